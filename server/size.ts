// Sizes on the command line and in config: 0 (unlimited), bytes, or a number with a unit.

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** "500M" -> 524288000, "2GiB" -> 2147483648, "1.5G", "0" -> 0. Throws on anything else. */
export function parseSize(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isSafeInteger(text) || text < 0) throw new Error(`invalid size: ${text}`);
    return text;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new Error(
      `invalid size "${text}": use 0 (unlimited), bytes, or a unit such as 500M or 2GiB`,
    );
  }
  const n = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n)) throw new Error(`size too large: ${text}`);
  return n;
}

/** The value in the largest binary unit below it: 1536 -> { v: 1.5, unit: 'KiB' }. */
function scale(n: number): { v: number; unit: string } {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return { v, unit: units[u]! };
}

/** A quota or size for people: "unlimited", "500 MiB", "1.5 GiB". */
export function formatSize(n: number): string {
  if (n === 0) return 'unlimited';
  const { v, unit } = scale(n);
  return unit === 'B' ? `${n} B` : `${Number.isInteger(v) ? v : v.toFixed(1)} ${unit}`;
}

/** An amount with the exact byte count: "12 B", "1.2 KiB (1234 bytes)". */
export function formatBytes(n: number): string {
  const { v, unit } = scale(n);
  return unit === 'B' ? `${n} B` : `${v.toFixed(1)} ${unit} (${n} bytes)`;
}

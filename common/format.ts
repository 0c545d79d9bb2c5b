// Formatting for people, shared by server and client: sizes (parse and print), durations, file
// modes and `ls -l` lines. The server's longname (as OpenSSH's sftp-server sends it) and the
// client's `ls -l` differ in their columns; both are built from the same pieces here.

// ---- sizes ------------------------------------------------------------------------------------

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

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** The value in the largest binary unit below it, up to `top`: 1536 -> { v: 1.5, unit: 'KiB' }. */
export function scaleSize(n: number, top = 'TiB'): { v: number; unit: string } {
  const last = BINARY_UNITS.indexOf(top);
  let v = n;
  let u = 0;
  while (v >= 1024 && u < last) {
    v /= 1024;
    u++;
  }
  return { v, unit: BINARY_UNITS[u]! };
}

/** A quota or size for people: "unlimited", "500 MiB", "1.5 GiB". */
export function formatSize(n: number): string {
  if (n === 0) return 'unlimited';
  const { v, unit } = scaleSize(n);
  return unit === 'B' ? `${n} B` : `${Number.isInteger(v) ? v : v.toFixed(1)} ${unit}`;
}

/** An amount with the exact byte count: "12 B", "1.2 KiB (1234 bytes)". */
export function formatBytes(n: number): string {
  const { v, unit } = scaleSize(n);
  return unit === 'B' ? `${n} B` : `${v.toFixed(1)} ${unit} (${n} bytes)`;
}

/** A size in transfer lines and listings: "999 B", "1.5 KiB", "34 MiB". */
export function humanSize(n: number): string {
  // whole bytes: a rate below 1 KiB/s is no float with 15 digits
  if (n < 1024) return `${Math.round(n)} B`;
  const { v, unit } = scaleSize(n, 'PiB');
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${unit}`;
}

/** "3.21 s", "12.5 s", "4m05s", "2h07m". */
export function humanDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

// ---- file modes -------------------------------------------------------------------------------

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

export function isDirMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFDIR;
}

export function isFileMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFREG;
}

const TYPE_CHARS: Record<number, string> = {
  [S_IFDIR]: 'd',
  0o120000: 'l',
  0o020000: 'c',
  0o060000: 'b',
  0o010000: 'p',
  0o140000: 's',
};

/**
 * "drwxr-xr-x". With `special` (the server's longname), setuid, setgid and sticky show as s/S and
 * t/T as ls does; the client's listing shows the plain rwx bits.
 */
export function modeString(mode: number, special = true): string {
  const rwx = (bits: number, set: boolean, ch: string): string =>
    (bits & 4 ? 'r' : '-') +
    (bits & 2 ? 'w' : '-') +
    (special && set ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? 'x' : '-');
  return (
    (TYPE_CHARS[mode & S_IFMT] ?? '-') +
    rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, 's') +
    rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, 's') +
    rwx(mode & 7, (mode & 0o1000) !== 0, 't')
  );
}

// ---- ls -l ------------------------------------------------------------------------------------

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const SIX_MONTHS = 182 * 24 * 3600 * 1000;

// The last date formatted, by minute: files listed together were mostly written together, and a
// listing formats one date per entry (a READDIR of 100 entries: 100 Dates and 5 local-time
// conversions each). Zone offsets are whole minutes (everywhere since 1972), so a UTC minute is
// one local minute and the key is exact.
let lastDate = { minute: NaN, recent: false, text: '' };

/** "Mar  7 14:05" within six months of now, else "Mar  7  2024" (local time, as ls). */
export function lsDate(mtimeMs: number, now = Date.now()): string {
  const minute = Math.floor(mtimeMs / 60_000);
  const recent = Math.abs(now - mtimeMs) < SIX_MONTHS;
  if (minute === lastDate.minute && recent === lastDate.recent) return lastDate.text;
  const text = formatLsDate(mtimeMs, recent);
  lastDate = { minute, recent, text };
  return text;
}

function formatLsDate(mtimeMs: number, recent: boolean): string {
  const d = new Date(mtimeMs);
  const day = String(d.getDate()).padStart(2, ' ');
  const tail = recent
    ? `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
    : ` ${d.getFullYear()}`;
  return `${MONTHS[d.getMonth()]} ${day} ${tail}`;
}

/** What the server's longname needs of a file. */
export interface LongnameStats {
  mode: number;
  nlink: number;
  size: number;
  mtimeMs: number;
}

/** The line OpenSSH's sftp-server sends: mode, links, owner, group, size, date, name. */
export function longname(name: string, st: LongnameStats, owner: string, now = Date.now()): string {
  const o = owner.slice(0, 8).padEnd(8, ' ');
  return `${modeString(st.mode)} ${String(st.nlink).padStart(3)} ${o} ${o} ${String(st.size).padStart(8)} ${lsDate(st.mtimeMs, now)} ${name}`;
}

/** One entry of the client's listings. */
export interface LsEntry {
  name: string;
  mode: number;
  size: number;
  /** seconds since the epoch */
  mtime: number;
}

/** The client's `ls -l`: mode, size (aligned over the listing), date, name. */
export function lsLong(entries: LsEntry[], now = Date.now()): string[] {
  const w = Math.max(1, ...entries.map((e) => String(e.size).length));
  return entries.map(
    (e) =>
      `${modeString(e.mode, false)} ${String(e.size).padStart(w)} ${lsDate(e.mtime * 1000, now)} ${e.name}`,
  );
}

/** "34%" of a whole (100% of nothing). */
export function percent(part: number, whole: number): string {
  return `${whole > 0 ? Math.floor((part / whole) * 100) : 100}%`;
}

/** Rows as aligned columns (two spaces apart), as `user list` and `sessions` print them. */
export function formatTable(rows: readonly (readonly string[])[]): string[] {
  const w = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(w[i]!))
      .join('  ')
      .trimEnd(),
  );
}

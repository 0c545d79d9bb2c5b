// Sizes, speeds, durations and `ls -l` lines.

export function humanSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function humanDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function modeString(mode: number): string {
  const type = (mode & 0o170000) >>> 0;
  const t =
    type === 0o040000
      ? 'd'
      : type === 0o120000
        ? 'l'
        : type === 0o020000
          ? 'c'
          : type === 0o060000
            ? 'b'
            : type === 0o010000
              ? 'p'
              : type === 0o140000
                ? 's'
                : '-';
  const rwx = (bits: number): string =>
    `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${bits & 1 ? 'x' : '-'}`;
  return t + rwx((mode >> 6) & 7) + rwx((mode >> 3) & 7) + rwx(mode & 7);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export function lsDate(mtimeSec: number, now = Date.now()): string {
  const d = new Date(mtimeSec * 1000);
  const day = String(d.getDate()).padStart(2, ' ');
  const recent = Math.abs(now - d.getTime()) < 182 * 24 * 3600 * 1000;
  const tail = recent
    ? `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
    : ` ${d.getFullYear()}`;
  return `${MONTHS[d.getMonth()]} ${day} ${tail}`;
}

export interface LsEntry {
  name: string;
  mode: number;
  size: number;
  mtime: number;
}

export function lsLong(entries: LsEntry[]): string[] {
  const w = Math.max(1, ...entries.map((e) => String(e.size).length));
  return entries.map(
    (e) => `${modeString(e.mode)} ${String(e.size).padStart(w)} ${lsDate(e.mtime)} ${e.name}`,
  );
}

export function isDirMode(mode: number): boolean {
  return (mode & 0o170000) === 0o040000;
}

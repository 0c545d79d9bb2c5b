// File attributes as SFTP sends them, and the `ls -l` style longname of READDIR.
import type { FileStats } from '../fs/storage.js';
import type { Attrs } from '../../common/wire.js';

export function attrsFromStats(st: FileStats): Attrs {
  return {
    size: st.size,
    uid: st.uid,
    gid: st.gid,
    permissions: st.mode,
    atime: Math.floor(st.atimeMs / 1000),
    mtime: Math.floor(st.mtimeMs / 1000),
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const SIX_MONTHS = 182 * 24 * 3600 * 1000;

function typeChar(mode: number): string {
  switch (mode & 0o170000) {
    case 0o040000:
      return 'd';
    case 0o120000:
      return 'l';
    case 0o020000:
      return 'c';
    case 0o060000:
      return 'b';
    case 0o010000:
      return 'p';
    case 0o140000:
      return 's';
    default:
      return '-';
  }
}

export function modeString(mode: number): string {
  const rwx = (bits: number, special: boolean, ch: string): string =>
    (bits & 4 ? 'r' : '-') +
    (bits & 2 ? 'w' : '-') +
    (special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? 'x' : '-');
  return (
    typeChar(mode) +
    rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, 's') +
    rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, 's') +
    rwx(mode & 7, (mode & 0o1000) !== 0, 't')
  );
}

/** The line OpenSSH's sftp-server sends: mode, links, owner, group, size, date, name. */
export function longname(name: string, st: FileStats, owner: string, now = Date.now()): string {
  const d = new Date(st.mtimeMs);
  const mon = MONTHS[d.getMonth()]!;
  const day = String(d.getDate()).padStart(2, ' ');
  const recent = Math.abs(now - st.mtimeMs) < SIX_MONTHS;
  const when = recent
    ? `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
    : ` ${d.getFullYear()}`;
  const o = owner.slice(0, 8).padEnd(8, ' ');
  return `${modeString(st.mode)} ${String(st.nlink).padStart(3)} ${o} ${o} ${String(st.size).padStart(8)} ${mon} ${day} ${when.padStart(5)} ${name}`;
}

// Renames on verified paths (see jail.ts): SFTP v3 RENAME, which must never replace an existing
// target, and posix-rename, which replaces it atomically and reports what it replaced.
import type { Stats } from 'node:fs';
import { closeSync, constants as C } from 'node:fs';
import { errno } from './errors.js';
import type { Jail } from './jail.js';

/** open(2) flag for a descriptor that only names an object (Linux; not in node's fs.constants) */
const O_PATH = 0o10000000;

/** Whether a name exists (without following a final symlink). */
async function exists(jail: Jail, path: string): Promise<boolean> {
  try {
    await jail.run((s) => s.lstat(path));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTRESPONDING') throw e;
    return false;
  }
}

/**
 * Renames src to dst, failing with EEXIST when dst exists, whatever appears there meanwhile.
 *
 * A check-then-rename would lose a target created in between (by another program on the disk, or
 * another node on a shared disk). So, as OpenSSH's sftp-server does, a non-directory is hard-linked
 * to the new name (link(2) fails with EEXIST whatever is there) and the old name is then removed:
 * the inode and its size do not change, nor does the ledger. A directory cannot be hard-linked: it
 * is renamed after the check, and rename(2) of a directory fails on an existing file or non-empty
 * directory, so the one window left is a concurrently created EMPTY directory being replaced: no
 * data is lost. Where the file system has no hard links (EPERM, EOPNOTSUPP, ENOSYS), the same
 * check-then-rename is used, with the same small window.
 */
export async function renameNoReplace(jail: Jail, src: string, dst: string): Promise<void> {
  const run = jail.run.bind(jail);
  const st = await run((s) => s.lstat(src));
  if (!st.isDirectory()) {
    try {
      await run((s) => s.link(src, dst));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
      if (await exists(jail, dst)) throw errno('EEXIST', 'target exists');
      await run((s) => s.rename(src, dst));
      return;
    }
    try {
      await run((s) => s.unlink(src));
    } catch (e) {
      await run((s) => s.unlink(dst)); // undo: the file keeps its one old name
      throw e;
    }
    return;
  }
  if (await exists(jail, dst)) throw errno('EEXIST', 'target exists');
  await run((s) => s.rename(src, dst));
}

/**
 * Renames src to dst, replacing dst atomically. Returns the replaced object's stats, read from a
 * descriptor held across the rename (not from a stat taken before it), or undefined when nothing
 * was replaced (no target, or the target was src itself).
 */
export async function renameReplacing(
  jail: Jail,
  src: string,
  dst: string,
): Promise<Stats | undefined> {
  const run = jail.run.bind(jail);
  const s = await run((s) => s.lstat(src));
  let old = -1;
  try {
    old = await run((s) => s.open(dst, O_PATH | C.O_NOFOLLOW));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTRESPONDING') throw e;
    /* no target */
  }
  try {
    await run((s) => s.rename(src, dst));
    if (old < 0) return undefined;
    const fd = old;
    const st = await run((s) => s.fstat(fd));
    return st.dev === s.dev && st.ino === s.ino ? undefined : st;
  } finally {
    if (old >= 0) closeSync(old); // O_PATH: never reaches the filesystem (jail.ts)
  }
}

// Operations on paths of a session: status and attributes, remove, rename (no-replace and
// posix-rename), links, realpath and file system figures, all inside the jail and kept in the quota
// ledger. Functions over an FsContext; UserFs (userfs.ts) is their facade.
import { constants as C, type Stats } from 'node:fs';
import { posix } from 'node:path';
import { errno, errorCode, NotAllowedError } from './errors.js';
import { using } from './jail.js';
import { renameNoReplace, renameReplacing } from './rename.js';
import { close, OpenFile, resize, type FsContext } from './files.js';
import type { FsSpace, SetAttrs } from './storage.js';

export async function stat(fs: FsContext, path: string): Promise<Stats> {
  const ref = await fs.jail.resolve(fs.jail.normalize(path), true);
  return using(ref, (r) => fs.jail.run((s) => s.fstat(r.fd)));
}

export async function lstat(fs: FsContext, path: string): Promise<Stats> {
  const ref = await fs.jail.resolve(fs.jail.normalize(path), false);
  return using(ref, (r) => fs.jail.run((s) => s.fstat(r.fd)));
}

export async function setstat(fs: FsContext, path: string, a: SetAttrs): Promise<void> {
  const ref = await fs.jail.resolve(fs.jail.normalize(path), true);
  const run = fs.jail.run.bind(fs.jail);
  try {
    if (a.size !== undefined) {
      if ((await run((s) => s.fstat(ref.fd))).isDirectory())
        throw errno('EISDIR', 'is a directory');
      const fd = await run((s) => s.open(ref.at(), C.O_WRONLY | C.O_NONBLOCK));
      let file: OpenFile;
      try {
        const st = await run((s) => s.fstat(fd));
        file = new OpenFile(fd, path, false, fs.ledger.track(st.dev, st.ino, st.size), false);
      } catch (e) {
        await fs.jail.closeFd(fd).catch(() => undefined);
        throw e;
      }
      try {
        await resize(fs, file, a.size);
      } finally {
        await close(fs, file);
      }
    }
    if (a.permissions !== undefined) {
      const mode = a.permissions & 0o777;
      await run((s) => s.chmod(ref.at(), mode));
    }
    if (a.atime !== undefined && a.mtime !== undefined) {
      const { atime, mtime } = a;
      await run((s) => s.utimes(ref.at(), atime, mtime));
    }
  } finally {
    ref.close();
  }
}

export async function remove(fs: FsContext, path: string): Promise<void> {
  const { dir, name } = await fs.jail.parent(fs.jail.normalize(path));
  await using(dir, async () => {
    const st = await fs.jail.run((s) => s.lstat(dir.at(name)));
    if (st.isDirectory()) throw errno('EISDIR', 'is a directory');
    await fs.jail.run((s) => s.unlink(dir.at(name)));
    released(fs, st);
  });
}

/** A file name is gone: its bytes leave the ledger now, or at close while a handle holds it. */
function released(fs: FsContext, st: Stats): void {
  if (st.isFile() && !fs.ledger.openFile(st.dev, st.ino)) fs.ledger.give(st.size);
}

/**
 * SFTP v3 RENAME never replaces an existing target; posix-rename replaces it atomically.
 *
 * Without replacing, a check-then-rename would lose a target created in between (by another
 * program on the disk, or another node on a shared disk). So, as OpenSSH's sftp-server does, a
 * non-directory is hard-linked to the new name (link() fails with EEXIST whatever appeared there)
 * and the old name is then removed: the size counted in the ledger does not change. A directory
 * cannot be hard-linked: it is renamed, and rename(2) of a directory fails on an existing file or
 * non-empty directory, so the one window left (after the check) is a concurrently created EMPTY
 * directory being replaced: no data is lost. Where the file system has no hard links (EPERM,
 * EOPNOTSUPP, ENOSYS), the same check-then-rename is used, with the same small window.
 */
export async function rename(
  fs: FsContext,
  from: string,
  to: string,
  replace: boolean,
): Promise<void> {
  const a = await fs.jail.parent(fs.jail.normalize(from));
  try {
    const b = await fs.jail.parent(fs.jail.normalize(to));
    try {
      const src = a.dir.at(a.name);
      const dst = b.dir.at(b.name);
      if (!replace) return await renameNoReplace(fs.jail, src, dst);
      // posix-rename: the replaced file's bytes leave the ledger
      const old = await renameReplacing(fs.jail, src, dst);
      if (old) released(fs, old);
    } finally {
      b.dir.close();
    }
  } finally {
    a.dir.close();
  }
}

/** The target of a link, as a path inside the jail (links that lead outside are missing). */
export async function readlink(fs: FsContext, path: string): Promise<string> {
  const jp = fs.jail.normalize(path);
  const { dir, name } = await fs.jail.parent(jp);
  await using(dir, () => fs.jail.run((s) => s.readlink(dir.at(name)))); // EINVAL: not a link
  const target = await using(await fs.jail.resolve(jp, true), (r) => r.real);
  return fs.jail.toClient(target)!;
}

/** Canonical client path: symlinks inside the home resolved; missing paths normalised as text. */
export async function realpath(fs: FsContext, path: string): Promise<string> {
  const jp = fs.jail.normalize(path);
  let ref;
  try {
    ref = await fs.jail.resolve(jp, true);
  } catch (e) {
    if (errorCode(e) === 'ENOTRESPONDING') throw e;
    return jp;
  }
  return fs.jail.toClient(await using(ref, (r) => r.real)) ?? jp;
}

export async function symlink(
  fs: FsContext,
  linkPath: string,
  targetPath: string,
  allowSymlinks: boolean,
): Promise<void> {
  if (!allowSymlinks) throw new NotAllowedError('symbolic links are not allowed');
  const link = fs.jail.normalize(linkPath);
  const target = fs.jail.normalize(posix.resolve(posix.dirname(link), targetPath));
  const { dir, name } = await fs.jail.parent(link);
  const text = posix.relative(posix.dirname(link), target) || '.';
  await using(dir, () => fs.jail.run((s) => s.symlink(text, dir.at(name))));
}

/** File system figures; with a quota, its size and what is left of it. */
export async function statvfs(fs: FsContext, path: string): Promise<FsSpace> {
  (await fs.jail.resolve(fs.jail.normalize(path), true)).close();
  const s = await fs.jail.run((s) => s.statfs(fs.jail.home));
  const base = {
    files: s.files,
    ffree: s.ffree,
    favail: s.ffree,
    fsid: 0,
    flag: 0,
    namemax: 255,
  };
  if (fs.ledger.unlimited) {
    return {
      ...base,
      bsize: s.bsize,
      frsize: s.bsize,
      blocks: s.blocks,
      bfree: s.bfree,
      bavail: s.bavail,
    };
  }
  const block = 1024;
  const free = Math.min(fs.ledger.free(), s.bavail * s.bsize);
  return {
    ...base,
    bsize: block,
    frsize: block,
    blocks: Math.ceil(fs.ledger.limit / block),
    bfree: Math.floor(free / block),
    bavail: Math.floor(free / block),
  };
}

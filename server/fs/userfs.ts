// The storage layer of one session: every file operation of a user, inside the jail and within the
// quota (the Storage interface of storage.ts, on disk). It knows nothing of SFTP; errors are node's
// errno errors, QuotaError or NotAllowedError.
import {
  chmodSync,
  closeSync,
  constants as C,
  fchmodSync,
  fstatSync,
  fsync,
  ftruncate,
  futimesSync,
  lstatSync,
  mkdirSync,
  opendirSync,
  openSync,
  readlinkSync,
  rmdirSync,
  statfsSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  type Dir,
  type Stats,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { promisify } from 'node:util';
import { errno, NotAllowedError } from './errors.js';
import { Jail, using, type Ref } from './jail.js';
import type { Ledger, TrackedFile } from './quota.js';
import { hashSlot, recall, remember, RunningHash } from './digests.js';
import { pread, pwriteAll } from './io.js';
import { renameNoReplace, renameReplacing } from './rename.js';
import { releaseHandle, takeHandle } from './handle-budget.js';
import type {
  DirEntry,
  FsSpace,
  HashAlgorithm,
  OpenFlags,
  SetAttrs,
  Storage,
  StoredDir,
  StoredFile,
} from './storage.js';

export type { DirEntry, FsSpace, HashAlgorithm, OpenFlags, SetAttrs } from './storage.js';

const ftruncateP = promisify(ftruncate);
const fsyncP = promisify(fsync);

export class OpenFile implements StoredFile {
  closed = false;
  /** counted in the open-handle budget (handle-budget.ts) */
  counted = false;
  /** set at close when this handle wrote the whole file in sequence (digests.ts) */
  sha256?: string;
  constructor(
    readonly fd: number,
    readonly path: string,
    readonly readable: boolean,
    /** set when the file is open for writing: its shared size bookkeeping */
    readonly tracked: TrackedFile | undefined,
    readonly append: boolean,
  ) {}
}

export class OpenDir implements StoredDir {
  /** "." and ".." come first, as readdir(3) gives them */
  dots = true;
  eof = false;
  closed = false;
  constructor(
    readonly ref: Ref,
    readonly dir: Dir,
    readonly path: string,
  ) {}
}

export interface UserFsOptions {
  allowSymlinks: boolean;
}

/** read size of hashing: the one buffer a hash request holds */
const HASH_CHUNK = 1024 * 1024;
/** most blocks one hash request may ask for (check-file replies hold fewer, see handlers.ts) */
export const HASH_MAX_BLOCKS = 16384;

export class UserFs implements Storage {
  constructor(
    readonly jail: Jail,
    readonly ledger: Ledger,
    private readonly opts: UserFsOptions = { allowSymlinks: false },
  ) {}

  // ---- files ---------------------------------------------------------------------------------

  async open(path: string, flags: OpenFlags, mode = 0o644): Promise<OpenFile> {
    const jp = this.jail.normalize(path);
    const write = flags.write || flags.append;
    const access = flags.read && write ? C.O_RDWR : write ? C.O_WRONLY : C.O_RDONLY;
    const base = access | C.O_NONBLOCK; // never O_TRUNC, never O_APPEND
    let fd = -1;
    if (flags.create) {
      // as OpenSSH: CREAT creates a missing file even on a read-only open
      const { dir, name } = this.jail.parent(jp);
      fd = using(dir, () => {
        try {
          return openSync(dir.at(name), base | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, mode & 0o777);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || flags.exclusive) throw e;
          return -1;
        }
      });
    }
    if (fd < 0) {
      // an existing object: find it (O_PATH), prove it lies inside, and only then open that very
      // inode, so that nothing outside is ever opened and an outside object answers like a missing
      // one (opening first answered EISDIR for a link to an outside directory)
      fd = using(this.jail.resolve(jp, true), (r) => {
        const st = fstatSync(r.fd);
        if (st.isDirectory()) throw errno('EISDIR', 'is a directory');
        if (!st.isFile()) throw new NotAllowedError('not a regular file');
        return openSync(r.at(), base);
      });
    }
    const ref = this.jail.verify(fd);
    let st: Stats;
    try {
      st = fstatSync(fd);
      if (st.isDirectory()) throw errno('EISDIR', 'is a directory');
      if (!st.isFile()) throw new NotAllowedError('not a regular file');
    } catch (e) {
      ref.close();
      throw e;
    }
    const tracked = write ? this.ledger.track(st.dev, st.ino, st.size) : undefined;
    if (tracked && tracked.refs === 1)
      tracked.running = st.size === 0 ? new RunningHash() : undefined;
    const file = new OpenFile(fd, jp, flags.read || !write, tracked, flags.append);
    try {
      takeHandle(this.ledger); // the user's and the server's budget of open handles
      file.counted = true;
      if (flags.truncate && tracked && st.size > 0) await this.resize(file, 0);
    } catch (e) {
      await this.close(file);
      throw e;
    }
    return file;
  }

  async read(
    file: OpenFile,
    offset: number,
    length: number,
    into: Buffer,
    at: number,
  ): Promise<number> {
    if (!file.readable) throw errno('EBADF', 'file not open for reading');
    return pread(file.fd, into, at, length, offset);
  }

  /** Writes data at offset (at the end for an APPEND handle), after reserving any growth. */
  async write(file: OpenFile, offset: number, data: Buffer): Promise<void> {
    const t = file.tracked;
    if (!t) throw errno('EBADF', 'file not open for writing');
    await t.acquire(false);
    try {
      const at = file.append ? t.size : offset;
      const grow = at + data.length - t.size;
      if (grow > 0) {
        this.ledger.reserve(grow);
        t.size += grow;
      }
      if (t.running && !t.running.feed(at, data)) t.running = undefined;
      try {
        await pwriteAll(file.fd, data, at);
        // what our own writes left as mtime: a different one at close means someone else wrote
        if (t.running) t.writtenMtime = fstatSync(file.fd, { bigint: true }).mtimeNs;
      } catch (e) {
        t.running = undefined;
        this.reconcile(file);
        throw e;
      }
    } finally {
      t.release(false);
    }
  }

  /** After a failed write (disk full): count what is really on disk, if no other write is in flight. */
  private reconcile(file: OpenFile): void {
    const t = file.tracked!;
    if (t.refs > 1) return; // others may have reservations in flight; close reconciles
    try {
      const real = fstatSync(file.fd).size;
      if (real < t.size) {
        this.ledger.give(t.size - real);
        t.size = real;
      }
    } catch {
      /* close reconciles */
    }
  }

  /** Truncates or extends; growth is reserved, shrinking gives space back at once. */
  async resize(file: OpenFile, size: number): Promise<void> {
    const t = file.tracked;
    if (!t) throw errno('EBADF', 'file not open for writing');
    await t.acquire(true);
    try {
      const cur = fstatSync(file.fd).size;
      this.ledger.correct(cur - t.size);
      t.size = cur;
      if (size > cur) this.ledger.reserve(size - cur);
      try {
        await ftruncateP(file.fd, size);
      } catch (e) {
        if (size > cur) this.ledger.give(size - cur);
        throw e;
      }
      if (size < cur) this.ledger.give(cur - size);
      t.size = size;
      t.running = size === 0 && t.refs === 1 ? new RunningHash() : undefined;
    } finally {
      t.release(true);
    }
  }

  fstat(file: OpenFile): Stats {
    return fstatSync(file.fd);
  }

  async fsetstat(file: OpenFile, a: SetAttrs): Promise<void> {
    if (a.size !== undefined) await this.resize(file, a.size);
    if (a.permissions !== undefined) fchmodSync(file.fd, a.permissions & 0o777);
    if (a.atime !== undefined && a.mtime !== undefined) futimesSync(file.fd, a.atime, a.mtime);
  }

  async fsync(file: OpenFile): Promise<void> {
    await fsyncP(file.fd);
  }

  async close(file: OpenFile): Promise<void> {
    if (file.closed) return;
    file.closed = true;
    if (file.counted) releaseHandle(this.ledger);
    const t = file.tracked;
    if (t) {
      // wait for writes in flight on this inode, then reconcile the ledger with the disk
      await t.acquire(true);
      try {
        let disk = { size: t.size, nlink: 1 };
        try {
          let st = fstatSync(file.fd, { bigint: true });
          disk = { size: Number(st.size), nlink: Number(st.nlink) };
          // the last writer closes a file written in sequence: remember its digest
          const ours = t.running && (t.writtenMtime === undefined || t.writtenMtime === st.mtimeNs);
          if (t.refs === 1 && ours && t.running?.pos === disk.size && disk.nlink > 0) {
            // File times are coarse (a clock tick): a write by someone else within the same tick
            // would leave mtime as it is and the digest stale. Setting mtime 10 ms back makes any
            // later write change it, so the entry no longer matches.
            const mtime = Number(st.mtimeNs) / 1e9 - 0.01;
            futimesSync(file.fd, Number(st.atimeNs) / 1e9, mtime);
            st = fstatSync(file.fd, { bigint: true });
            const digest = t.running.digest();
            remember(t.key, st, digest);
            file.sha256 = digest.toString('hex');
          }
        } catch {
          /* keep the tracked size */
        }
        this.ledger.untrack(t, disk);
      } finally {
        t.release(true);
      }
    }
    closeSync(file.fd);
  }

  // ---- paths ---------------------------------------------------------------------------------

  stat(path: string): Stats {
    return using(this.jail.resolve(this.jail.normalize(path), true), (r) => fstatSync(r.fd));
  }

  lstat(path: string): Stats {
    return using(this.jail.resolve(this.jail.normalize(path), false), (r) => fstatSync(r.fd));
  }

  async setstat(path: string, a: SetAttrs): Promise<void> {
    const ref = this.jail.resolve(this.jail.normalize(path), true);
    try {
      if (a.size !== undefined) {
        if (fstatSync(ref.fd).isDirectory()) throw errno('EISDIR', 'is a directory');
        const fd = openSync(ref.at(), C.O_WRONLY | C.O_NONBLOCK);
        const st = fstatSync(fd);
        const file = new OpenFile(
          fd,
          path,
          false,
          this.ledger.track(st.dev, st.ino, st.size),
          false,
        );
        try {
          await this.resize(file, a.size);
        } finally {
          await this.close(file);
        }
      }
      if (a.permissions !== undefined) chmodSync(ref.at(), a.permissions & 0o777);
      if (a.atime !== undefined && a.mtime !== undefined) utimesSync(ref.at(), a.atime, a.mtime);
    } finally {
      ref.close();
    }
  }

  opendir(path: string): OpenDir {
    const jp = this.jail.normalize(path);
    const ref = this.jail.resolve(jp, true);
    try {
      if (!fstatSync(ref.fd).isDirectory()) throw errno('ENOTDIR', 'not a directory');
      takeHandle(this.ledger);
    } catch (e) {
      ref.close();
      throw e;
    }
    try {
      // entries are read 128 at a time as READDIR asks for them: a huge directory is never loaded
      return new OpenDir(ref, opendirSync(ref.at(), { bufferSize: 128 }), jp);
    } catch (e) {
      releaseHandle(this.ledger);
      ref.close();
      throw e;
    }
  }

  /** Up to max entries with their lstat; an empty array at the end. */
  async readdir(d: OpenDir, max: number): Promise<DirEntry[]> {
    const out: DirEntry[] = [];
    if (d.dots) {
      d.dots = false;
      const self = fstatSync(d.ref.fd);
      out.push({ name: '.', stats: self });
      let parent = self;
      if (d.path !== '/') {
        try {
          parent = this.stat(posix.dirname(d.path));
        } catch {
          /* keep self */
        }
      }
      out.push({ name: '..', stats: parent });
    }
    while (out.length < max && !d.eof) {
      const e = await d.dir.read();
      if (!e) {
        d.eof = true;
        break;
      }
      try {
        out.push({ name: e.name, stats: lstatSync(d.ref.at(e.name)) });
      } catch {
        /* vanished between readdir and lstat */
      }
    }
    return out;
  }

  async closedir(d: OpenDir): Promise<void> {
    if (d.closed) return;
    d.closed = true;
    releaseHandle(this.ledger);
    try {
      await d.dir.close();
    } catch {
      /* already closed */
    }
    d.ref.close();
  }

  remove(path: string): void {
    const { dir, name } = this.jail.parent(this.jail.normalize(path));
    using(dir, () => {
      const st = lstatSync(dir.at(name));
      if (st.isDirectory()) throw errno('EISDIR', 'is a directory');
      unlinkSync(dir.at(name));
      this.released(st);
    });
  }

  /** A file name is gone: its bytes leave the ledger now, or at close while a handle holds it. */
  private released(st: Stats): void {
    if (st.isFile() && !this.ledger.openFile(st.dev, st.ino)) this.ledger.give(st.size);
  }

  mkdir(path: string, mode = 0o755): void {
    const { dir, name } = this.jail.parent(this.jail.normalize(path));
    using(dir, () => mkdirSync(dir.at(name), mode & 0o777));
  }

  rmdir(path: string): void {
    const { dir, name } = this.jail.parent(this.jail.normalize(path));
    using(dir, () => rmdirSync(dir.at(name)));
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
  rename(from: string, to: string, replace: boolean): void {
    const a = this.jail.parent(this.jail.normalize(from));
    try {
      const b = this.jail.parent(this.jail.normalize(to));
      try {
        const src = a.dir.at(a.name);
        const dst = b.dir.at(b.name);
        if (!replace) return renameNoReplace(src, dst);
        // posix-rename: the replaced file's bytes leave the ledger
        const old = renameReplacing(src, dst);
        if (old) this.released(old);
      } finally {
        b.dir.close();
      }
    } finally {
      a.dir.close();
    }
  }

  /** The target of a link, as a path inside the jail (links that lead outside are missing). */
  readlink(path: string): string {
    const jp = this.jail.normalize(path);
    const { dir, name } = this.jail.parent(jp);
    using(dir, () => readlinkSync(dir.at(name))); // EINVAL when it is not a link
    const target = using(this.jail.resolve(jp, true), (r) => r.real);
    return this.jail.toClient(target)!;
  }

  /** Canonical client path: symlinks inside the home resolved; missing paths normalised as text. */
  realpath(path: string): string {
    const jp = this.jail.normalize(path);
    try {
      return this.jail.toClient(using(this.jail.resolve(jp, true), (r) => r.real)) ?? jp;
    } catch {
      return jp;
    }
  }

  symlink(linkPath: string, targetPath: string): void {
    if (!this.opts.allowSymlinks) throw new NotAllowedError('symbolic links are not allowed');
    const link = this.jail.normalize(linkPath);
    const target = this.jail.normalize(posix.resolve(posix.dirname(link), targetPath));
    const { dir, name } = this.jail.parent(link);
    using(dir, () => symlinkSync(posix.relative(posix.dirname(link), target) || '.', dir.at(name)));
  }

  /** File system figures; with a quota, its size and what is left of it. */
  statvfs(path: string): FsSpace {
    using(this.jail.resolve(this.jail.normalize(path), true), () => undefined);
    const s = statfsSync(this.jail.home);
    const base = {
      files: s.files,
      ffree: s.ffree,
      favail: s.ffree,
      fsid: 0,
      flag: 0,
      namemax: 255,
    };
    if (this.ledger.unlimited) {
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
    const free = Math.min(this.ledger.free(), s.bavail * s.bsize);
    return {
      ...base,
      bsize: block,
      frsize: block,
      blocks: Math.ceil(this.ledger.limit / block),
      bfree: Math.floor(free / block),
      bavail: Math.floor(free / block),
    };
  }

  /**
   * copy-data: copies a range between two open files through the quota (length 0 = to EOF). One
   * 256 KiB buffer per request, each chunk reserved in the quota before it is written (a copy
   * over the quota stops there, as an upload does); reads and writes of that size run in the
   * thread pool, so other sessions are served between chunks.
   */
  async copy(
    src: OpenFile,
    srcOffset: number,
    length: number,
    dst: OpenFile,
    dstOffset: number,
  ): Promise<void> {
    // length 0 = to the end as it is now (a copy into the same file must not chase its own end)
    const a = fstatSync(src.fd);
    if (length === 0) length = Math.max(0, a.size - srcOffset);
    const b = fstatSync(dst.fd);
    const overlap = srcOffset < dstOffset + length && dstOffset < srcOffset + length;
    if (a.dev === b.dev && a.ino === b.ino && overlap && length > 0) {
      throw errno('EINVAL', 'source and destination overlap');
    }
    const buf = Buffer.allocUnsafe(256 * 1024);
    let done = 0;
    while (done < length) {
      const want = Math.min(buf.length, length - done);
      const n = await this.read(src, srcOffset + done, want, buf, 0);
      if (n === 0) break;
      await this.write(dst, dstOffset + done, buf.subarray(0, n)); // done with buf when it returns
      done += n;
    }
  }

  /** Opens a file for reading only (hash commands, check-file-name). */
  openRead(path: string): Promise<OpenFile> {
    return this.open(path, {
      read: true,
      write: false,
      append: false,
      create: false,
      truncate: false,
      exclusive: false,
    });
  }

  /**
   * Hashes [offset, offset+length) (length 0 = to EOF), one digest per block (blockSize 0 = one
   * block). At most HASH_MAX_BLOCKS blocks (refused before any read). Waits for a hash slot of this
   * user (digests.ts), then reads HASH_CHUNK at a time and hashes the blocks within each chunk,
   * yielding to the event loop between chunks, so that neither a huge file nor tiny blocks ever
   * stall other sessions or hold more than one buffer.
   */
  async hash(
    file: OpenFile,
    alg: HashAlgorithm,
    offset: number,
    length: number,
    blockSize: number,
  ): Promise<Buffer[]> {
    const release = await hashSlot(this.ledger);
    try {
      const st = fstatSync(file.fd, { bigint: true });
      const size = Number(st.size);
      if (alg === 'sha256' && offset === 0 && blockSize === 0 && (length === 0 || length >= size)) {
        const known = recall(`${st.dev}:${st.ino}`, st);
        if (known) return [known];
      }
      const end = length === 0 ? size : Math.min(size, offset + length);
      const range = Math.max(0, end - offset);
      const blocks = blockSize === 0 ? 1 : Math.max(1, Math.ceil(range / blockSize));
      if (blocks > HASH_MAX_BLOCKS) throw errno('EINVAL', `too many blocks (${blocks})`);
      const digests: Buffer[] = [];
      const buf = Buffer.allocUnsafe(Math.min(HASH_CHUNK, Math.max(1, range)));
      let h = createHash(alg);
      let left = blockSize === 0 ? range : Math.min(blockSize, range); // bytes left in this block
      let pos = offset;
      while (pos < end) {
        const n = await this.read(file, pos, Math.min(buf.length, end - pos), buf, 0);
        if (n === 0) break; // the file shrank: the last block ends here
        for (let i = 0; i < n;) {
          const take = Math.min(left, n - i);
          h.update(buf.subarray(i, i + take));
          i += take;
          left -= take;
          if (left === 0 && pos + i < end) {
            digests.push(h.digest());
            h = createHash(alg);
            left = Math.min(blockSize, end - pos - i);
          }
        }
        pos += n;
        await new Promise<void>((r) => setImmediate(r));
      }
      digests.push(h.digest());
      return digests;
    } finally {
      release();
    }
  }
}

// The system calls the storage layer makes on a home, in two interchangeable forms (`Sys`): `pool`
// runs each in libuv's thread pool (for homes on a network or FUSE filesystem, through the home's
// gate, gate.ts), `direct` runs it at once on the event loop (homes on a local filesystem: a pool
// round trip costs more than a metadata call served from the kernel's caches). Both return
// promises, so that the storage code is written once; `direct` never throws, it rejects.
// Descriptors are numbers, as the jail needs them (fs/promises only gives FileHandle objects).
import * as fs from 'node:fs';
import type { BigIntStats, Dir, Stats, StatsFs } from 'node:fs';
import * as fsp from 'node:fs/promises';

export interface Sys {
  open(path: string, flags: number, mode?: number): Promise<number>;
  close(fd: number): Promise<void>;
  fstat(fd: number): Promise<Stats>;
  fstatBig(fd: number): Promise<BigIntStats>;
  fchmod(fd: number, mode: number): Promise<void>;
  futimes(fd: number, atime: number, mtime: number): Promise<void>;
  ftruncate(fd: number, len: number): Promise<void>;
  fsync(fd: number): Promise<void>;
  read(fd: number, into: Buffer, at: number, len: number, pos: number): Promise<number>;
  write(fd: number, data: Buffer, at: number, len: number, pos: number): Promise<number>;
  readv(fd: number, bufs: Buffer[], pos: number): Promise<number>;
  writev(fd: number, bufs: Buffer[], pos: number): Promise<number>;
  lstat(path: string): Promise<Stats>;
  mkdir(path: string, mode: number): Promise<void>;
  rmdir(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  link(from: string, to: string): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string): Promise<string>;
  chmod(path: string, mode: number): Promise<void>;
  utimes(path: string, atime: number, mtime: number): Promise<void>;
  statfs(path: string): Promise<StatsFs>;
  realpath(path: string): Promise<string>;
  /** A directory read a batch of `bufferSize` entries at a time. */
  opendir(path: string, bufferSize: number): Promise<Dir>;
}

type Cb<T> = (e: NodeJS.ErrnoException | null, v: T) => void;

function p<T>(start: (cb: Cb<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => start((e, v) => (e ? reject(e) : resolve(v))));
}

/** libuv's entry types (fs.constants has them, its typings do not) */
const UV_DIRENT_UNKNOWN = 0;
const UV_DIRENT_FILE = 1;

export const pool: Sys = {
  open: (path, flags, mode) => p((cb) => fs.open(path, flags, mode, cb)),
  close: (fd) => p<void>((cb) => fs.close(fd, (e) => cb(e, undefined))),
  fstat: (fd) => p((cb) => fs.fstat(fd, cb)),
  fstatBig: (fd) => p((cb) => fs.fstat(fd, { bigint: true }, cb)),
  fchmod: (fd, mode) => p<void>((cb) => fs.fchmod(fd, mode, (e) => cb(e, undefined))),
  futimes: (fd, atime, mtime) =>
    p<void>((cb) => fs.futimes(fd, atime, mtime, (e) => cb(e, undefined))),
  ftruncate: (fd, len) => p<void>((cb) => fs.ftruncate(fd, len, (e) => cb(e, undefined))),
  fsync: (fd) => p<void>((cb) => fs.fsync(fd, (e) => cb(e, undefined))),
  read: (fd, into, at, len, pos) => p<number>((cb) => fs.read(fd, into, at, len, pos, cb)),
  write: (fd, data, at, len, pos) => p<number>((cb) => fs.write(fd, data, at, len, pos, cb)),
  readv: (fd, bufs, pos) => p<number>((cb) => fs.readv(fd, bufs, pos, cb)),
  writev: (fd, bufs, pos) => p<number>((cb) => fs.writev(fd, bufs, pos, cb)),
  lstat: (path) => fsp.lstat(path),
  mkdir: (path, mode) => fsp.mkdir(path, mode).then(() => undefined),
  rmdir: (path) => fsp.rmdir(path),
  unlink: (path) => fsp.unlink(path),
  rename: (from, to) => fsp.rename(from, to),
  link: (from, to) => fsp.link(from, to),
  symlink: (target, path) => fsp.symlink(target, path),
  readlink: (path) => fsp.readlink(path),
  chmod: (path, mode) => fsp.chmod(path, mode),
  utimes: (path, atime, mtime) => fsp.utimes(path, atime, mtime),
  statfs: (path) => fsp.statfs(path),
  realpath: (path) => fsp.realpath(path),
  /**
   * Node's Dir lstat()s synchronously, on the event loop, every entry whose type the filesystem
   * does not report (DT_UNKNOWN: NFSv3 without READDIRPLUS, many FUSE filesystems): on a hung
   * filesystem that stalls every user. Our callers lstat the entries they need themselves, through
   * the gate, so such entries are handed on typed as regular files.
   */
  opendir: async (path, bufferSize) => {
    const dir = await fsp.opendir(path, { bufferSize });
    const d = dir as Dir & { processReadResult?: (path: string, result: unknown[]) => void };
    const process = d.processReadResult;
    if (typeof process === 'function') {
      d.processReadResult = function (this: Dir, p: string, result: unknown[]) {
        for (let i = 1; i < result.length; i += 2)
          if (result[i] === UV_DIRENT_UNKNOWN) result[i] = UV_DIRENT_FILE;
        process.call(this, p, result);
      };
    }
    return dir;
  },
};

/** A synchronous call as a promise: its value, or its error as a rejection. */
function now<A extends unknown[], T>(fn: (...a: A) => T): (...a: A) => Promise<T> {
  return (...a: A) => {
    try {
      return Promise.resolve(fn(...a));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  };
}

export const direct: Sys = {
  open: now((path: string, flags: number, mode?: number) => fs.openSync(path, flags, mode)),
  close: now((fd: number) => fs.closeSync(fd)),
  fstat: now((fd: number) => fs.fstatSync(fd)),
  fstatBig: now((fd: number) => fs.fstatSync(fd, { bigint: true })),
  fchmod: now((fd: number, mode: number) => fs.fchmodSync(fd, mode)),
  futimes: now((fd: number, a: number, m: number) => fs.futimesSync(fd, a, m)),
  // the two calls that may wait on the disk itself stay in the pool, as they always were
  ftruncate: pool.ftruncate,
  fsync: pool.fsync,
  read: now((fd: number, b: Buffer, at: number, n: number, pos: number) =>
    fs.readSync(fd, b, at, n, pos),
  ),
  write: now((fd: number, b: Buffer, at: number, n: number, pos: number) =>
    fs.writeSync(fd, b, at, n, pos),
  ),
  readv: now((fd: number, bufs: Buffer[], pos: number) => fs.readvSync(fd, bufs, pos)),
  writev: now((fd: number, bufs: Buffer[], pos: number) => fs.writevSync(fd, bufs, pos)),
  lstat: now((path: string) => fs.lstatSync(path)),
  mkdir: now((path: string, mode: number) => void fs.mkdirSync(path, mode)),
  rmdir: now((path: string) => fs.rmdirSync(path)),
  unlink: now((path: string) => fs.unlinkSync(path)),
  rename: now((from: string, to: string) => fs.renameSync(from, to)),
  link: now((from: string, to: string) => fs.linkSync(from, to)),
  symlink: now((target: string, path: string) => fs.symlinkSync(target, path)),
  readlink: now((path: string) => fs.readlinkSync(path)),
  chmod: now((path: string, mode: number) => fs.chmodSync(path, mode)),
  utimes: now((path: string, a: number, m: number) => fs.utimesSync(path, a, m)),
  statfs: now((path: string) => fs.statfsSync(path)),
  realpath: now((path: string) => fs.realpathSync(path)),
  // entries read a batch at a time in the pool (Dir.read), as before
  opendir: now((path: string, bufferSize: number) => fs.opendirSync(path, { bufferSize })),
};

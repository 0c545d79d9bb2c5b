// The system calls the storage layer makes on a home, in their thread-pool (asynchronous) forms,
// returning promises: numbers for descriptors, as the jail needs them (fs/promises only gives
// FileHandle objects). Callers run them through the home's gate (gate.ts, Jail.run).
import * as fs from 'node:fs';
import type { BigIntStats, Dir, Stats, StatsFs } from 'node:fs';
import * as fsp from 'node:fs/promises';

type Cb<T> = (e: NodeJS.ErrnoException | null, v: T) => void;

function p<T>(start: (cb: Cb<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => start((e, v) => (e ? reject(e) : resolve(v))));
}

export const open = (path: string, flags: number, mode?: number): Promise<number> =>
  p((cb) => fs.open(path, flags, mode, cb));
export const close = (fd: number): Promise<void> =>
  p<void>((cb) => fs.close(fd, (e) => cb(e, undefined)));
export const fstat = (fd: number): Promise<Stats> => p((cb) => fs.fstat(fd, cb));
export const fstatBig = (fd: number): Promise<BigIntStats> =>
  p((cb) => fs.fstat(fd, { bigint: true }, cb));
export const fchmod = (fd: number, mode: number): Promise<void> =>
  p<void>((cb) => fs.fchmod(fd, mode, (e) => cb(e, undefined)));
export const futimes = (fd: number, atime: number, mtime: number): Promise<void> =>
  p<void>((cb) => fs.futimes(fd, atime, mtime, (e) => cb(e, undefined)));
export const ftruncate = (fd: number, len: number): Promise<void> =>
  p<void>((cb) => fs.ftruncate(fd, len, (e) => cb(e, undefined)));
export const fsync = (fd: number): Promise<void> =>
  p<void>((cb) => fs.fsync(fd, (e) => cb(e, undefined)));
export const read = (fd: number, into: Buffer, at: number, len: number, pos: number) =>
  p<number>((cb) => fs.read(fd, into, at, len, pos, cb));
export const write = (fd: number, data: Buffer, at: number, len: number, pos: number) =>
  p<number>((cb) => fs.write(fd, data, at, len, pos, cb));
export const readv = (fd: number, bufs: Buffer[], pos: number) =>
  p<number>((cb) => fs.readv(fd, bufs, pos, cb));
export const writev = (fd: number, bufs: Buffer[], pos: number) =>
  p<number>((cb) => fs.writev(fd, bufs, pos, cb));

export const lstat = (path: string): Promise<Stats> => fsp.lstat(path);
export const mkdir = (path: string, mode: number): Promise<void> => fsp.mkdir(path, mode);
export const rmdir = (path: string): Promise<void> => fsp.rmdir(path);
export const unlink = (path: string): Promise<void> => fsp.unlink(path);
export const rename = (from: string, to: string): Promise<void> => fsp.rename(from, to);
export const link = (from: string, to: string): Promise<void> => fsp.link(from, to);
export const symlink = (target: string, path: string): Promise<void> => fsp.symlink(target, path);
export const readlink = (path: string): Promise<string> => fsp.readlink(path);
export const chmod = (path: string, mode: number): Promise<void> => fsp.chmod(path, mode);
export const utimes = (path: string, atime: number, mtime: number): Promise<void> =>
  fsp.utimes(path, atime, mtime);
export const statfs = (path: string): Promise<StatsFs> => fsp.statfs(path);
export const realpath = (path: string): Promise<string> => fsp.realpath(path);
/** libuv's entry types (fs.constants has them, its typings do not) */
const UV_DIRENT_UNKNOWN = 0;
const UV_DIRENT_FILE = 1;

/**
 * A directory read a batch at a time. Node's Dir lstat()s synchronously, on the event loop, every
 * entry whose type the filesystem does not report (DT_UNKNOWN: NFSv3 without READDIRPLUS, many
 * FUSE filesystems): on a hung filesystem that stalls every user. Our callers lstat the entries
 * they need themselves, through the gate, so such entries are handed on typed as regular files.
 */
export async function opendir(path: string, bufferSize: number): Promise<Dir> {
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
}

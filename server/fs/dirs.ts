// Directories of a session: listing them a batch at a time (with "." and ".." first), creating and
// removing them inside the jail. Functions over an FsContext; UserFs (userfs.ts) is their facade.
import { fstatSync, lstatSync, mkdirSync, opendirSync, rmdirSync, type Dir } from 'node:fs';
import { posix } from 'node:path';
import { errno } from './errors.js';
import { using, type Ref } from './jail.js';
import { releaseHandle, takeHandle } from './handle-budget.js';
import type { FsContext } from './files.js';
import { stat } from './paths.js';
import type { DirEntry, StoredDir } from './storage.js';

export class OpenDir implements StoredDir {
  constructor(
    readonly ref: Ref,
    readonly dir: Dir,
    readonly path: string,
  ) {}

  /** "." and ".." come first, as readdir(3) gives them */
  dots = true;
  eof = false;
  closed = false;
}

export function opendir(fs: FsContext, path: string): OpenDir {
  const jp = fs.jail.normalize(path);
  const ref = fs.jail.resolve(jp, true);
  try {
    if (!fstatSync(ref.fd).isDirectory()) throw errno('ENOTDIR', 'not a directory');
    takeHandle(fs.ledger);
  } catch (e) {
    ref.close();
    throw e;
  }
  try {
    // entries are read 128 at a time as READDIR asks for them: a huge directory is never loaded
    return new OpenDir(ref, opendirSync(ref.at(), { bufferSize: 128 }), jp);
  } catch (e) {
    releaseHandle(fs.ledger);
    ref.close();
    throw e;
  }
}

/** Up to max entries with their lstat; an empty array at the end. */
export async function readdir(fs: FsContext, d: OpenDir, max: number): Promise<DirEntry[]> {
  const out: DirEntry[] = [];
  if (d.dots) {
    d.dots = false;
    const self = fstatSync(d.ref.fd);
    out.push({ name: '.', stats: self });
    let parent = self;
    if (d.path !== '/') {
      try {
        parent = stat(fs, posix.dirname(d.path));
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

export async function closedir(fs: FsContext, d: OpenDir): Promise<void> {
  if (d.closed) return;
  d.closed = true;
  releaseHandle(fs.ledger);
  try {
    await d.dir.close();
  } catch {
    /* already closed */
  }
  d.ref.close();
}

export function mkdir(fs: FsContext, path: string, mode = 0o755): void {
  const { dir, name } = fs.jail.parent(fs.jail.normalize(path));
  using(dir, () => mkdirSync(dir.at(name), mode & 0o777));
}

export function rmdir(fs: FsContext, path: string): void {
  const { dir, name } = fs.jail.parent(fs.jail.normalize(path));
  using(dir, () => rmdirSync(dir.at(name)));
}

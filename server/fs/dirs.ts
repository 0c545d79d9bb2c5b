// Directories of a session: listing them a batch at a time (with "." and ".." first), creating and
// removing them inside the jail. Functions over an FsContext; UserFs (userfs.ts) is their facade.
import { lstatSync, type Dir } from 'node:fs';
import { lstatBatch } from './lstat-worker.js';
import { posix } from 'node:path';
import { errno } from './errors.js';
import { using, type Ref } from './jail.js';
import { releaseHandle, takeHandle } from './handle-budget.js';
import type { FsContext } from './files.js';
import { stat } from './paths.js';
import type { DirEntry, FileStats, StoredDir } from './storage.js';

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

export async function opendir(fs: FsContext, path: string): Promise<OpenDir> {
  const jp = fs.jail.normalize(path);
  const ref = await fs.jail.resolve(jp, true);
  try {
    if (!(await fs.jail.run((s) => s.fstat(ref.fd))).isDirectory())
      throw errno('ENOTDIR', 'not a directory');
    takeHandle(fs.ledger);
  } catch (e) {
    ref.close();
    throw e;
  }
  try {
    // entries are read 128 at a time as READDIR asks for them: a huge directory is never loaded
    return new OpenDir(ref, await fs.jail.run((s) => s.opendir(ref.at(), 128)), jp);
  } catch (e) {
    releaseHandle(fs.ledger);
    ref.close();
    throw e;
  }
}

/** Up to max entries with their lstat; an empty array at the end. */
export async function readdir(fs: FsContext, d: OpenDir, max: number): Promise<DirEntry[]> {
  const out: DirEntry[] = [];
  const run = fs.jail.run.bind(fs.jail);
  if (d.dots) {
    d.dots = false;
    const self = await run((s) => s.fstat(d.ref.fd));
    out.push({ name: '.', stats: self });
    let parent = self;
    if (d.path !== '/') {
      try {
        parent = await stat(fs, posix.dirname(d.path));
      } catch {
        /* keep self */
      }
    }
    out.push({ name: '..', stats: parent });
  }
  // (again when every name of a batch vanished: an empty answer means the end)
  do {
    const names: string[] = [];
    while (out.length + names.length < max && !d.eof) {
      // on a local home the next 128 names are read on the loop, as every call there is: an
      // await per entry cost ~5 µs against ~1 µs for readSync, a third of a listing's CPU
      const e = fs.jail.io === 'sync' ? d.dir.readSync() : await run(() => d.dir.read());
      if (e) names.push(e.name);
      else d.eof = true;
    }
    const stats = fs.jail.io === 'sync' ? lstatNow(d, names) : await lstatPooled(fs, d, names);
    names.forEach((name, i) => {
      const st = stats[i];
      if (st) out.push({ name, stats: st });
    });
  } while (out.length === 0 && !d.eof);
  return out;
}

/** The lstats of a batch on a local filesystem, on the event loop (undefined: vanished). */
function lstatNow(d: OpenDir, names: string[]): (FileStats | undefined)[] {
  return names.map((name) => {
    try {
      return lstatSync(d.ref.at(name));
    } catch {
      return undefined; // vanished between readdir and lstat
    }
  });
}

/**
 * The lstats of a batch in pool mode: one job on a worker thread (lstat-worker.ts) through the
 * home's gate, not a pool round trip per name (undefined: vanished).
 */
function lstatPooled(fs: FsContext, d: OpenDir, names: string[]) {
  const paths = names.map((name) => d.ref.at(name));
  return fs.jail.run(() => lstatBatch(paths));
}

export async function closedir(fs: FsContext, d: OpenDir): Promise<void> {
  if (d.closed) return;
  d.closed = true;
  releaseHandle(fs.ledger);
  try {
    await fs.jail.closing(() => d.dir.close());
  } catch {
    /* already closed */
  }
  d.ref.close();
}

export async function mkdir(fs: FsContext, path: string, mode = 0o755): Promise<void> {
  const { dir, name } = await fs.jail.parent(fs.jail.normalize(path));
  await using(dir, () => fs.jail.run((s) => s.mkdir(dir.at(name), mode & 0o777)));
}

export async function rmdir(fs: FsContext, path: string): Promise<void> {
  const { dir, name } = await fs.jail.parent(fs.jail.normalize(path));
  await using(dir, () => fs.jail.run((s) => s.rmdir(dir.at(name))));
}

// The jail: maps client paths (the home seen as "/") to objects on disk, and proves every object
// we touch lies inside the home.
//
// Node has no openat()/O_BENEATH, so each lookup opens the object with O_PATH and asks the kernel
// where that descriptor really is (/proc/self/fd/N). Operations then go through that descriptor's
// magic link (`/proc/self/fd/N[/name]`), which names the verified inode itself: a rename or a
// symlink swapped in after the check cannot redirect them outside the home.
//
// How the calls reach the disk is the jail's `io` (home-io.ts decides it per home): `sync` runs them
// at once on the event loop (a local filesystem), `pool` runs each in the thread pool through the
// home's gate (gate.ts: a hung network filesystem must not stall other users). Two stay synchronous
// in both because they never reach the filesystem: readlink of /proc/PID/fd/N (the kernel's own
// record of the descriptor) and closing an O_PATH descriptor (it has no file operations).
import { closeSync, constants, readlinkSync } from 'node:fs';
import { posix } from 'node:path';
import { errno } from './errors.js';
import { closeIn, runIn } from './gate.js';
import { direct, pool, type Sys } from './sys.js';

/** how a home's filesystem calls run: on the event loop, or in the pool through its gate */
export type HomeIo = 'sync' | 'pool';

const O_PATH = 0o10000000; // Linux (x86_64, arm64); not exported by node's fs.constants
// our own pid rather than "self": one symlink less for the kernel to follow on every lookup
const FD_DIR = `/proc/${process.pid}/fd`;

/** A verified descriptor: an object inside the home, held open while an operation uses it. */
export class Ref {
  constructor(
    readonly fd: number,
    /** real path on disk, inside the home */
    readonly real: string,
  ) {}
  /** A path the kernel resolves to this very object (or a name inside it, for a directory). */
  at(name?: string): string {
    return name === undefined ? `${FD_DIR}/${this.fd}` : `${FD_DIR}/${this.fd}/${name}`;
  }
  /** Closes the O_PATH descriptor (synchronous: see the top of this file). */
  close(): void {
    closeSync(this.fd);
  }
}

export class Jail {
  private constructor(
    /** the home as configured: the key of its gate */
    readonly key: string,
    /** real path of the home, without a trailing slash */
    readonly home: string,
    readonly io: HomeIo,
  ) {
    this.sys = io === 'sync' ? direct : pool;
  }

  /** the system calls, in this home's form */
  private readonly sys: Sys;

  /** The jail of a home, which must be a directory. */
  static async open(home: string, io: HomeIo = 'pool'): Promise<Jail> {
    const run = <T>(fn: (s: Sys) => Promise<T>) =>
      io === 'sync' ? fn(direct) : runIn(home, () => fn(pool));
    const real = await run((s) => s.realpath(home));
    const st = await run((s) => s.lstat(real));
    if (!st.isDirectory()) throw errno('ENOTDIR', 'home is not a directory');
    return new Jail(home, real, io);
  }

  /** Runs one filesystem call of this home: at once (sync), or through its gate (pool). */
  run<T>(fn: (s: Sys) => Promise<T>): Promise<T> {
    if (this.io === 'sync') return fn(this.sys);
    return runIn(this.key, () => fn(this.sys));
  }

  /** Runs a close (in pool mode through the gate, retried in the background if it cannot start). */
  closing(fn: (s: Sys) => Promise<void>): Promise<void> {
    if (this.io === 'sync') return fn(this.sys);
    return closeIn(this.key, () => fn(this.sys));
  }

  /** Closes a descriptor that is not O_PATH (a file or a directory opened for real). */
  closeFd(fd: number): Promise<void> {
    return this.closing((s) => s.close(fd));
  }

  /** Normalises a client path to an absolute jail path; ".." at the root stays at the root. */
  normalize(clientPath: string): string {
    const p = posix.normalize('/' + clientPath);
    const r = posix.resolve('/', p);
    return r.length > 1 && r.endsWith('/') ? r.slice(0, -1) : r;
  }

  /** The client's name for a real path inside the home, or null when it lies outside. */
  toClient(real: string): string | null {
    if (real === this.home) return '/';
    if (real.startsWith(this.home + '/')) return real.slice(this.home.length);
    return null;
  }

  /**
   * Opens the object at a jail path (following a final symlink when `follow`), verified inside.
   * Anything that resolves outside answers ENOENT, exactly like a missing path.
   */
  async resolve(jailPath: string, follow: boolean): Promise<Ref> {
    const flags = O_PATH | (follow ? 0 : constants.O_NOFOLLOW);
    const fd = await this.run((s) => s.open(this.home + (jailPath === '/' ? '' : jailPath), flags));
    return this.verify(fd, true);
  }

  /** Opens the parent directory of a jail path; returns it and the final name. */
  async parent(jailPath: string): Promise<{ dir: Ref; name: string }> {
    if (jailPath === '/') throw errno('EPERM', 'the root of the home cannot be changed');
    const dir = await this.resolve(posix.dirname(jailPath), true);
    return { dir, name: posix.basename(jailPath) };
  }

  /**
   * Proves an open descriptor lies inside the home; closes it and answers ENOENT otherwise.
   * `opath`: an O_PATH descriptor (closed at once); else a real one, closed through the gate.
   */
  async verify(fd: number, opath = false): Promise<Ref> {
    let real: string;
    try {
      real = readlinkSync(`${FD_DIR}/${fd}`);
    } catch (e) {
      await this.discard(fd, opath);
      throw e;
    }
    if (real !== this.home && !real.startsWith(this.home + '/')) {
      await this.discard(fd, opath);
      throw errno('ENOENT', 'no such file');
    }
    return new Ref(fd, real);
  }

  private async discard(fd: number, opath: boolean): Promise<void> {
    if (opath) closeSync(fd);
    else await this.closeFd(fd).catch(() => undefined);
  }
}

/** Runs fn with a resolved reference and closes it afterwards. */
export async function using<T>(ref: Ref, fn: (r: Ref) => T | Promise<T>): Promise<T> {
  try {
    return await fn(ref);
  } finally {
    ref.close();
  }
}

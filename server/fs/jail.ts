// The jail: maps client paths (the home seen as "/") to objects on disk, and proves every object
// we touch lies inside the home.
//
// Node has no openat()/O_BENEATH, so each lookup opens the object with O_PATH and asks the kernel
// where that descriptor really is (/proc/self/fd/N). Operations then go through that descriptor's
// magic link (`/proc/self/fd/N[/name]`), which names the verified inode itself: a rename or a
// symlink swapped in after the check cannot redirect them outside the home.
import { closeSync, constants, lstatSync, openSync, readlinkSync, realpathSync } from 'node:fs';
import { posix } from 'node:path';
import { errno } from './errors.js';

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
  close(): void {
    closeSync(this.fd);
  }
}

export class Jail {
  /** real path of the home, without a trailing slash */
  readonly home: string;

  constructor(home: string) {
    this.home = realpathSync(home);
    if (!lstatSync(this.home).isDirectory()) throw errno('ENOTDIR', 'home is not a directory');
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
  resolve(jailPath: string, follow: boolean): Ref {
    const flags = O_PATH | (follow ? 0 : constants.O_NOFOLLOW);
    const fd = openSync(this.home + (jailPath === '/' ? '' : jailPath), flags);
    return this.verify(fd);
  }

  /** Opens the parent directory of a jail path; returns it and the final name. */
  parent(jailPath: string): { dir: Ref; name: string } {
    if (jailPath === '/') throw errno('EPERM', 'the root of the home cannot be changed');
    const dir = this.resolve(posix.dirname(jailPath), true);
    return { dir, name: posix.basename(jailPath) };
  }

  /** Proves an open descriptor lies inside the home; closes it and answers ENOENT otherwise. */
  verify(fd: number): Ref {
    let real: string;
    try {
      real = readlinkSync(`${FD_DIR}/${fd}`);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    if (real !== this.home && !real.startsWith(this.home + '/')) {
      closeSync(fd);
      throw errno('ENOENT', 'no such file');
    }
    return new Ref(fd, real);
  }
}

/** Runs fn with a resolved reference and closes it afterwards. */
export function using<T>(ref: Ref, fn: (r: Ref) => T): T {
  try {
    return fn(ref);
  } finally {
    ref.close();
  }
}

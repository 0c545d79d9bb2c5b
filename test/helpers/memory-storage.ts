// An in-memory Storage (server/fs/storage.ts) for unit tests of the SFTP engine: files and
// directories in a map, errors as the disk storage raises them (errno codes, QuotaError), a quota,
// paths that refuse access, and delays per path so that tests can make requests finish out of order.
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { errno, NotAllowedError, QuotaError } from '../../server/fs/errors.js';
import type {
  Storage,
  StoredDir,
  StoredFile,
  DirEntry,
  FileStats,
  FsSpace,
  HashAlgorithm,
  OpenFlags,
  SetAttrs,
} from '../../server/fs/storage.js';

interface Node {
  dir: boolean;
  data: Buffer;
  mode: number;
  mtimeMs: number;
}

class MemFile implements StoredFile {
  closed = false;
  constructor(
    readonly path: string,
    readonly append: boolean,
    readonly node: Node,
    readonly readable: boolean,
    readonly writable: boolean,
  ) {}
}

class MemDir implements StoredDir {
  sent = false;
  constructor(
    readonly path: string,
    readonly names: string[],
  ) {}
}

/** files grow no larger than this (a fuzzer's offsets must not allocate gigabytes) */
const MAX_SIZE = 64 * 1024 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class MemoryStorage implements Storage {
  private readonly nodes = new Map<string, Node>();
  /** bytes allowed in all files together; 0 = unlimited */
  quota = 0;
  /** paths whose every access fails with EACCES */
  readonly denied = new Set<string>();
  /** milliseconds a read or write on a path takes */
  readonly delays = new Map<string, number>();
  /** "read /a" and "write /a" in the order the operations finished */
  readonly finished: string[] = [];
  /** files and directories open now */
  openCount = 0;

  constructor() {
    this.nodes.set('/', { dir: true, data: Buffer.alloc(0), mode: 0o40755, mtimeMs: Date.now() });
  }

  /** Creates a file with this content (and its missing parents). */
  put(path: string, content: string | Buffer): void {
    const p = this.norm(path);
    for (let d = posix.dirname(p); !this.nodes.has(d); d = posix.dirname(d)) this.mkdirNow(d);
    const data = Buffer.from(content);
    this.nodes.set(p, { dir: false, data, mode: 0o100644, mtimeMs: Date.now() });
  }

  content(path: string): Buffer | undefined {
    return this.nodes.get(this.norm(path))?.data;
  }

  private norm(path: string): string {
    return posix.resolve('/', path);
  }

  private node(path: string): Node {
    const p = this.norm(path);
    if (this.denied.has(p)) throw errno('EACCES', 'permission denied');
    const n = this.nodes.get(p);
    if (!n) throw errno('ENOENT', 'no such file');
    return n;
  }

  private used(): number {
    let n = 0;
    for (const v of this.nodes.values()) n += v.data.length;
    return n;
  }

  private stats(n: Node): FileStats {
    const size = n.data.length;
    return {
      size,
      uid: 1000,
      gid: 1000,
      mode: n.mode,
      nlink: 1,
      atimeMs: n.mtimeMs,
      mtimeMs: n.mtimeMs,
    };
  }

  async open(path: string, flags: OpenFlags, mode = 0o644): Promise<MemFile> {
    const p = this.norm(path);
    if (this.denied.has(p)) throw errno('EACCES', 'permission denied');
    let n = this.nodes.get(p);
    if (n && flags.create && flags.exclusive) throw errno('EEXIST', 'exists');
    if (!n) {
      if (!flags.create) throw errno('ENOENT', 'no such file');
      this.node(posix.dirname(p));
      n = {
        dir: false,
        data: Buffer.alloc(0),
        mode: 0o100000 | (mode & 0o777),
        mtimeMs: Date.now(),
      };
      this.nodes.set(p, n);
    }
    if (n.dir) throw errno('EISDIR', 'is a directory');
    const write = flags.write || flags.append;
    if (flags.truncate && write) n.data = Buffer.alloc(0);
    this.openCount++;
    return new MemFile(p, flags.append, n, flags.read || !write, write);
  }

  async read(
    f: MemFile,
    offset: number,
    length: number,
    into: Buffer,
    at: number,
  ): Promise<number> {
    if (!f.readable) throw errno('EBADF', 'file not open for reading');
    await sleep(this.delays.get(f.path) ?? 0);
    const n = Math.max(0, Math.min(length, f.node.data.length - offset));
    f.node.data.copy(into, at, offset, offset + n);
    this.finished.push(`read ${f.path}`);
    return n;
  }

  async write(f: MemFile, offset: number, data: Buffer): Promise<void> {
    if (!f.writable) throw errno('EBADF', 'file not open for writing');
    await sleep(this.delays.get(f.path) ?? 0);
    const at = f.append ? f.node.data.length : offset;
    if (at + data.length > MAX_SIZE) throw errno('EFBIG', 'file too large');
    const grow = at + data.length - f.node.data.length;
    if (grow > 0 && this.quota > 0 && this.used() + grow > this.quota) {
      throw new QuotaError(this.quota - this.used());
    }
    const next = Buffer.alloc(Math.max(f.node.data.length, at + data.length));
    f.node.data.copy(next);
    data.copy(next, at);
    f.node.data = next;
    f.node.mtimeMs = Date.now();
    this.finished.push(`write ${f.path}`);
  }

  async fstat(f: MemFile): Promise<FileStats> {
    return this.stats(f.node);
  }

  async fsetstat(f: MemFile, a: SetAttrs): Promise<void> {
    this.apply(f.node, a);
  }

  async fsync(): Promise<void> {}

  async close(f: MemFile): Promise<void> {
    if (f.closed) return;
    f.closed = true;
    this.openCount--;
  }

  async stat(path: string): Promise<FileStats> {
    return this.stats(this.node(path));
  }

  async lstat(path: string): Promise<FileStats> {
    return this.stat(path);
  }

  async setstat(path: string, a: SetAttrs): Promise<void> {
    this.apply(this.node(path), a);
  }

  private apply(n: Node, a: SetAttrs): void {
    if (a.size !== undefined) {
      if (n.dir) throw errno('EISDIR', 'is a directory');
      if (a.size > MAX_SIZE) throw errno('EFBIG', 'file too large');
      const next = Buffer.alloc(a.size);
      n.data.copy(next, 0, 0, Math.min(a.size, n.data.length));
      n.data = next;
    }
    if (a.permissions !== undefined) n.mode = (n.mode & ~0o777) | (a.permissions & 0o777);
    if (a.mtime !== undefined) n.mtimeMs = a.mtime * 1000;
  }

  async opendir(path: string): Promise<MemDir> {
    const p = this.norm(path);
    if (!this.node(p).dir) throw errno('ENOTDIR', 'not a directory');
    const prefix = p === '/' ? '/' : p + '/';
    const names = [...this.nodes.keys()]
      .filter((k) => k !== p && k.startsWith(prefix) && !k.slice(prefix.length).includes('/'))
      .map((k) => k.slice(prefix.length))
      .sort();
    this.openCount++;
    return new MemDir(p, ['.', '..', ...names]);
  }

  async readdir(d: MemDir, max: number): Promise<DirEntry[]> {
    const batch = d.names.splice(0, max);
    return batch.map((name) => {
      const full =
        name === '.' ? d.path : name === '..' ? posix.dirname(d.path) : posix.join(d.path, name);
      return { name, stats: this.stats(this.nodes.get(full)!) };
    });
  }

  async closedir(): Promise<void> {
    this.openCount--;
  }

  async remove(path: string): Promise<void> {
    if (this.node(path).dir) throw errno('EISDIR', 'is a directory');
    this.nodes.delete(this.norm(path));
  }

  async mkdir(path: string, mode = 0o755): Promise<void> {
    this.mkdirNow(path, mode);
  }

  private mkdirNow(path: string, mode = 0o755): void {
    const p = this.norm(path);
    if (this.nodes.has(p)) throw errno('EEXIST', 'exists');
    this.node(posix.dirname(p));
    this.nodes.set(p, {
      dir: true,
      data: Buffer.alloc(0),
      mode: 0o40000 | mode,
      mtimeMs: Date.now(),
    });
  }

  async rmdir(path: string): Promise<void> {
    const p = this.norm(path);
    if (!this.node(p).dir) throw errno('ENOTDIR', 'not a directory');
    if ([...this.nodes.keys()].some((k) => k.startsWith(p + '/')))
      throw errno('ENOTEMPTY', 'not empty');
    this.nodes.delete(p);
  }

  async rename(from: string, to: string, replace: boolean): Promise<void> {
    const n = this.node(from);
    if (this.nodes.has(this.norm(to)) && !replace) throw errno('EEXIST', 'target exists');
    this.nodes.delete(this.norm(from));
    this.nodes.set(this.norm(to), n);
  }

  async realpath(path: string): Promise<string> {
    return this.norm(path);
  }

  async readlink(): Promise<string> {
    throw errno('EINVAL', 'not a link');
  }

  async symlink(): Promise<void> {
    throw new NotAllowedError('symbolic links are not allowed');
  }

  async statvfs(path: string): Promise<FsSpace> {
    this.node(path);
    const blocks = Math.ceil((this.quota || 1 << 30) / 1024);
    const free = Math.floor(((this.quota || 1 << 30) - this.used()) / 1024);
    const base = { files: 0, ffree: 0, favail: 0, fsid: 0, flag: 0, namemax: 255 };
    return { ...base, bsize: 1024, frsize: 1024, blocks, bfree: free, bavail: free };
  }

  openRead(path: string): Promise<MemFile> {
    const flags = { read: true, write: false, append: false, create: false, truncate: false };
    return this.open(path, { ...flags, exclusive: false });
  }

  /** One digest of the range (block sizes are not simulated). */
  async hash(f: MemFile, alg: HashAlgorithm, offset: number, length: number): Promise<Buffer[]> {
    const end = length === 0 ? f.node.data.length : offset + length;
    return [createHash(alg).update(f.node.data.subarray(offset, end)).digest()];
  }

  async copy(
    src: MemFile,
    srcOffset: number,
    length: number,
    dst: MemFile,
    dstOffset: number,
  ): Promise<void> {
    const end = length === 0 ? src.node.data.length : srcOffset + length;
    await this.write(dst, dstOffset, Buffer.from(src.node.data.subarray(srcOffset, end)));
  }
}

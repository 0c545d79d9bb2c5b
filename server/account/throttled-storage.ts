// The user's storage with their bandwidth limits: a WRITE waits for upload tokens before its data
// lands, a READ waits for download tokens after the disk read and before its data is returned. The
// waiting request holds its buffer and its place among the session's pending requests (at most 64,
// bounded by the SFTP engine), so a limited client fills that queue, the engine stops reading the
// channel and SSH flow control stops the client: backpressure, never a growing buffer. Everything
// else (listings, names, hashes, server-side copies: no bytes cross the network) passes unchanged.
import type {
  DirEntry,
  FileStats,
  FsSpace,
  HashAlgorithm,
  OpenFlags,
  SetAttrs,
  Storage,
  StoredDir,
  StoredFile,
} from '../fs/storage.js';
import type { UserRates } from './rates.js';

export class ThrottledStorage implements Storage {
  constructor(
    private readonly inner: Storage,
    private readonly rates: UserRates,
    /** whose waiting requests these are (RateRegistry.cancel at logout) */
    private readonly owner: object,
  ) {}

  write(file: StoredFile, offset: number, data: Buffer): Promise<void> {
    const wait = this.rates.upload.take(data.length, this.owner);
    return wait
      ? wait.then(() => this.inner.write(file, offset, data))
      : this.inner.write(file, offset, data);
  }

  async read(
    file: StoredFile,
    offset: number,
    length: number,
    into: Buffer,
    at: number,
  ): Promise<number> {
    const n = await this.inner.read(file, offset, length, into, at);
    const wait = this.rates.download.take(n, this.owner);
    if (wait) await wait;
    return n;
  }

  open(path: string, flags: OpenFlags, mode?: number): Promise<StoredFile> {
    return this.inner.open(path, flags, mode);
  }

  close(file: StoredFile): Promise<void> {
    return this.inner.close(file);
  }

  fstat(file: StoredFile): FileStats {
    return this.inner.fstat(file);
  }

  fsetstat(file: StoredFile, a: SetAttrs): Promise<void> {
    return this.inner.fsetstat(file, a);
  }

  fsync(file: StoredFile): Promise<void> {
    return this.inner.fsync(file);
  }

  opendir(path: string): StoredDir {
    return this.inner.opendir(path);
  }

  readdir(dir: StoredDir, max: number): Promise<DirEntry[]> {
    return this.inner.readdir(dir, max);
  }

  closedir(dir: StoredDir): Promise<void> {
    return this.inner.closedir(dir);
  }

  stat(path: string): FileStats {
    return this.inner.stat(path);
  }

  lstat(path: string): FileStats {
    return this.inner.lstat(path);
  }

  setstat(path: string, a: SetAttrs): Promise<void> {
    return this.inner.setstat(path, a);
  }

  remove(path: string): void {
    this.inner.remove(path);
  }

  mkdir(path: string, mode?: number): void {
    this.inner.mkdir(path, mode);
  }

  rmdir(path: string): void {
    this.inner.rmdir(path);
  }

  rename(from: string, to: string, replace: boolean): void {
    this.inner.rename(from, to, replace);
  }

  realpath(path: string): string {
    return this.inner.realpath(path);
  }

  readlink(path: string): string {
    return this.inner.readlink(path);
  }

  symlink(linkPath: string, targetPath: string): void {
    this.inner.symlink(linkPath, targetPath);
  }

  statvfs(path: string): FsSpace {
    return this.inner.statvfs(path);
  }

  openRead(path: string): Promise<StoredFile> {
    return this.inner.openRead(path);
  }

  hash(
    file: StoredFile,
    alg: HashAlgorithm,
    offset: number,
    length: number,
    blockSize: number,
  ): Promise<Buffer[]> {
    return this.inner.hash(file, alg, offset, length, blockSize);
  }

  copy(
    src: StoredFile,
    srcOffset: number,
    length: number,
    dst: StoredFile,
    dstOffset: number,
  ): Promise<void> {
    return this.inner.copy(src, srcOffset, length, dst, dstOffset);
  }
}

// The storage layer of one session: every file operation of a user, inside the jail and within the
// quota (the Storage interface of storage.ts, on disk). It knows nothing of SFTP; errors are node's
// errno errors, QuotaError or NotAllowedError. A facade: the work is done by files.ts (open files
// and their I/O), dirs.ts (directories), paths.ts (path operations) and copy-hash.ts (copy-data and
// hashing).
import type { Stats } from 'node:fs';
import type { Jail } from './jail.js';
import type { QuotaLedger } from './quota.js';
import * as files from './files.js';
import * as dirs from './dirs.js';
import * as paths from './paths.js';
import * as ranges from './copy-hash.js';
import type { OpenFile } from './files.js';
import type { OpenDir } from './dirs.js';
import type { DirEntry, FsSpace, OpenFlags, SetAttrs, Storage } from './storage.js';

export type { DirEntry, FsSpace, HashAlgorithm, OpenFlags, SetAttrs } from './storage.js';
export { OpenFile, type FsContext } from './files.js';
export { OpenDir } from './dirs.js';
export { HASH_MAX_BLOCKS } from './copy-hash.js';

/** The parameters of a storage function after its FsContext. */
type Args<F> = F extends (fs: files.FsContext, ...a: infer A) => unknown ? A : never;

export interface UserFsOptions {
  allowSymlinks: boolean;
  /** FsContext.keepAhead, asked at each open (a reload may add or drop what reads digests) */
  keepAhead?: () => boolean;
  /** FsContext.digests, asked at each open (always hashed when absent) */
  digests?: () => boolean;
}

export class UserFs implements Storage {
  constructor(
    readonly jail: Jail,
    readonly ledger: QuotaLedger,
    private readonly opts: UserFsOptions = { allowSymlinks: false },
  ) {}

  get keepAhead(): boolean {
    return this.opts.keepAhead?.() ?? false;
  }

  get digests(): boolean {
    return this.opts.digests?.() ?? true;
  }

  // ---- files ---------------------------------------------------------------------------------

  open(path: string, flags: OpenFlags, mode = 0o644): Promise<OpenFile> {
    return files.open(this, path, flags, mode);
  }

  read(...a: Args<typeof files.read>): Promise<number> {
    return files.read(this, ...a);
  }

  /** Writes data at offset (at the end for an APPEND handle), after reserving any growth. */
  write(file: OpenFile, offset: number, data: Buffer): Promise<void> {
    return files.write(this, file, offset, data);
  }

  /** Truncates or extends; growth is reserved, shrinking gives space back at once. */
  resize(file: OpenFile, size: number): Promise<void> {
    return files.resize(this, file, size);
  }

  fstat(file: OpenFile): Promise<Stats> {
    return files.fstat(this, file);
  }

  fsetstat(file: OpenFile, a: SetAttrs): Promise<void> {
    return files.fsetstat(this, file, a);
  }

  fsync(file: OpenFile): Promise<void> {
    return files.fsync(this, file);
  }

  close(file: OpenFile): Promise<void> {
    return files.close(this, file);
  }

  // ---- paths ---------------------------------------------------------------------------------

  stat(path: string): Promise<Stats> {
    return paths.stat(this, path);
  }

  lstat(path: string): Promise<Stats> {
    return paths.lstat(this, path);
  }

  setstat(path: string, a: SetAttrs): Promise<void> {
    return paths.setstat(this, path, a);
  }

  remove(path: string): Promise<void> {
    return paths.remove(this, path);
  }

  /** SFTP v3 RENAME never replaces an existing target; posix-rename replaces it atomically. */
  rename(from: string, to: string, replace: boolean): Promise<void> {
    return paths.rename(this, from, to, replace);
  }

  /** The target of a link, as a path inside the jail (links that lead outside are missing). */
  readlink(path: string): Promise<string> {
    return paths.readlink(this, path);
  }

  /** Canonical client path: symlinks inside the home resolved; missing paths normalised as text. */
  realpath(path: string): Promise<string> {
    return paths.realpath(this, path);
  }

  symlink(linkPath: string, targetPath: string): Promise<void> {
    return paths.symlink(this, linkPath, targetPath, this.opts.allowSymlinks);
  }

  /** File system figures; with a quota, its size and what is left of it. */
  statvfs(path: string): Promise<FsSpace> {
    return paths.statvfs(this, path);
  }

  // ---- directories ---------------------------------------------------------------------------

  opendir(path: string): Promise<OpenDir> {
    return dirs.opendir(this, path);
  }

  /** Up to max entries with their lstat; an empty array at the end. */
  readdir(d: OpenDir, max: number): Promise<DirEntry[]> {
    return dirs.readdir(this, d, max);
  }

  closedir(d: OpenDir): Promise<void> {
    return dirs.closedir(this, d);
  }

  mkdir(path: string, mode = 0o755): Promise<void> {
    return dirs.mkdir(this, path, mode);
  }

  rmdir(path: string): Promise<void> {
    return dirs.rmdir(this, path);
  }

  // ---- copy and hashes -----------------------------------------------------------------------

  /** copy-data: a range between two open files through the quota (length 0 = to EOF). */
  copy(...a: Args<typeof ranges.copy>): Promise<void> {
    return ranges.copy(this, ...a);
  }

  /** Opens a file for reading only (hash commands, check-file-name). */
  openRead(path: string): Promise<OpenFile> {
    return ranges.openRead(this, path);
  }

  /** One digest per block of [offset, offset+length) (length 0 = to EOF, blockSize 0 = one block). */
  hash(...a: Args<typeof ranges.hash>): Promise<Buffer[]> {
    return ranges.hash(this, ...a);
  }
}

// The Storage interface: the file operations the SFTP engine and the exec hash command may call on a
// user's storage, and the values they exchange. Every operation that reaches the disk is
// asynchronous: homes may live on a network filesystem that hangs (gate.ts). Types only; UserFs (the jailed disk) implements it,
// tests use an in-memory fake. Errors are errno-style (`code`: ENOENT, EACCES, ...), QuotaError
// (EQUOTA) or NotAllowedError (ENOTALLOWED); server/sftp/status.ts maps them to replies.
//
// Handles: `open`/`opendir` return the storage's own file and directory objects; the caller keeps
// them opaque (it reads only `path` and `append`) and passes them back to the same storage only, so
// an implementation may take its own concrete types in its methods.

export type HashAlgorithm = 'md5' | 'sha1' | 'sha256' | 'sha512';

export interface OpenFlags {
  read: boolean;
  write: boolean;
  append: boolean;
  create: boolean;
  truncate: boolean;
  exclusive: boolean;
}

export interface SetAttrs {
  size?: number;
  permissions?: number;
  atime?: number;
  mtime?: number;
}

/** What the protocol needs of a file's status (node's fs.Stats has all of it). */
export interface FileStats {
  size: number;
  uid: number;
  gid: number;
  /** type and permission bits, as st_mode */
  mode: number;
  nlink: number;
  atimeMs: number;
  mtimeMs: number;
}

export interface DirEntry {
  name: string;
  stats: FileStats;
}

/** statvfs figures; with a quota, its size and what is left of it. */
export interface FsSpace {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  fsid: number;
  flag: number;
  namemax: number;
}

/** An open file, as the caller sees it. */
export interface StoredFile {
  /** the client's path it was opened with, normalised */
  readonly path: string;
  /** opened with APPEND: every write lands at the current end */
  readonly append: boolean;
  /** after close: the sha256 (hex) of the whole file, when this handle wrote it from 0 to its end */
  readonly sha256?: string;
  /** where the opened object is, as the client sees it (links resolved), if the storage knows */
  readonly where?: string;
  /** whether this open created the file */
  readonly created?: boolean;
  /**
   * The file's size as this handle last knew it (at its open, from its reads, the writes to it),
   * if the storage keeps it: what a READ of a larger length is sized by (handlers.ts).
   */
  readonly sizeSeen?: number;
}

/** An open directory listing, as the caller sees it. */
export interface StoredDir {
  readonly path: string;
}

/** Opening, reading, writing and closing files. */
export interface FileOps {
  open(path: string, flags: OpenFlags, mode?: number): Promise<StoredFile>;
  /** Reads up to length bytes at offset into `into` at `at`; 0 at the end of the file. */
  read(file: StoredFile, offset: number, length: number, into: Buffer, at: number): Promise<number>;
  /** Writes all of data at offset (at the end for an APPEND file), within the quota. */
  write(file: StoredFile, offset: number, data: Buffer): Promise<void>;
  fstat(file: StoredFile): Promise<FileStats>;
  fsetstat(file: StoredFile, a: SetAttrs): Promise<void>;
  fsync(file: StoredFile): Promise<void>;
  /** Closes the file; closing twice is harmless. */
  close(file: StoredFile): Promise<void>;
}

/** Directory listings. */
export interface DirOps {
  opendir(path: string): Promise<StoredDir>;
  /** Up to max entries ("." and ".." first); an empty array at the end. */
  readdir(dir: StoredDir, max: number): Promise<DirEntry[]>;
  closedir(dir: StoredDir): Promise<void>;
}

/** Operations on names. */
export interface PathOps {
  stat(path: string): Promise<FileStats>;
  lstat(path: string): Promise<FileStats>;
  setstat(path: string, a: SetAttrs): Promise<void>;
  remove(path: string): Promise<void>;
  mkdir(path: string, mode?: number): Promise<void>;
  rmdir(path: string): Promise<void>;
  /** `replace`: replace an existing target atomically (posix-rename); else fail with EEXIST. */
  rename(from: string, to: string, replace: boolean): Promise<void>;
  /** The canonical client path (missing paths normalised as text). */
  realpath(path: string): Promise<string>;
  readlink(path: string): Promise<string>;
  symlink(linkPath: string, targetPath: string): Promise<void>;
}

/** Disk figures (statvfs@openssh.com, df). */
export interface SpaceInfo {
  statvfs(path: string): Promise<FsSpace>;
}

/** Digests of stored files (check-file-*, exec sha256sum). */
export interface Hashing {
  /** Opens a file for reading only. */
  openRead(path: string): Promise<StoredFile>;
  /** One digest per block of [offset, offset+length) (length 0 = to EOF, blockSize 0 = one block). */
  hash(
    file: StoredFile,
    alg: HashAlgorithm,
    offset: number,
    length: number,
    blockSize: number,
  ): Promise<Buffer[]>;
  close(file: StoredFile): Promise<void>;
}

/** Server-side copy between two open files (copy-data), through the quota. */
export interface Copying {
  copy(
    src: StoredFile,
    srcOffset: number,
    length: number,
    dst: StoredFile,
    dstOffset: number,
  ): Promise<void>;
}

/** Optional capabilities behind extensions (copy-data, check-file-*), which VERSION advertises. */
export type Capability = 'copy' | 'hash';

/** Everything one SFTP session uses. */
export interface Storage extends FileOps, DirOps, PathOps, SpaceInfo, Hashing, Copying {
  /** Whether this user may use a capability at all (absent: always); unoffered ones are not advertised. */
  offers?(cap: Capability): boolean;
}

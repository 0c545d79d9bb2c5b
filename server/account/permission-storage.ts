// The user's permissions, enforced in the account layer: a Storage decorator that decides each
// operation before the storage is called (so a refused one changes nothing), answers a refusal
// with EACCES ("Permission denied") and audits it (event `refused`, reason `permission`). Paths are
// checked as the user sees them, links resolved (a link cannot carry a right elsewhere). The
// rules may change while sessions are open (`rules` is replaced); handles are checked again at
// each read and write. STAT, LSTAT, REALPATH, READLINK and statvfs stay allowed for navigation.
import { posix } from 'node:path';
import { errno, errorCode } from '../fs/errors.js';
import type {
  Capability,
  DirEntry,
  HashAlgorithm,
  OpenFlags,
  SetAttrs,
  Storage,
  StoredDir,
  StoredFile,
} from '../fs/storage.js';
import { StorageWrapper } from './storage-wrapper.js';
import type { AccountObserver } from './events.js';
import type { LoginInfo } from './observed-storage.js';
import {
  normalizePath,
  rightsAt,
  sameEverywhere,
  type Perm,
  type PermRules,
} from './permissions.js';

export class PermissionStorage extends StorageWrapper {
  /** the rights each open file was granted with (checked again at each read and write) */
  private readonly granted = new WeakMap<StoredFile, { at: string; need: Perm[] }>();
  /** where each open listing is, as checked at OPENDIR */
  private readonly dirs = new WeakMap<StoredDir, string>();

  constructor(
    inner: Storage,
    /** the user's rules now; replaced on a change of the record */
    public rules: PermRules | undefined,
    private readonly who: LoginInfo,
    private readonly observer: AccountObserver,
  ) {
    super(inner);
  }

  /** The path as the user sees it, links resolved (for what an operation reaches through a name). */
  private async target(path: string): Promise<string> {
    return normalizePath(await this.inner.realpath(path));
  }

  /** The name itself (its directory's links resolved, not the name's own): remove, rename, mkdir. */
  private async name(path: string): Promise<string> {
    const p = normalizePath(path);
    if (p === '/') return p;
    const dir = await this.inner.realpath(posix.dirname(p));
    return normalizePath(posix.join(dir, posix.basename(p)));
  }

  /** Throws (and audits) unless every right in `need` holds at `at`. */
  private require(at: string, ...need: Perm[]): void {
    const rights = rightsAt(this.rules, at);
    if (need.every((p) => rights.has(p))) return;
    const e = errno('EACCES', 'Permission denied');
    this.observer.event({
      event: 'refused',
      reason: 'permission',
      user: this.who.user,
      addr: this.who.addr,
      session: this.who.session,
      path: at,
      status: 'Permission denied',
    });
    throw e;
  }

  /** Whether the user may use an optional capability anywhere (no rule grants it: not offered). */
  override offers(cap: Capability): boolean {
    const need: Perm[] = cap === 'hash' ? ['check'] : ['upload', 'overwrite'];
    const all = [this.rules?.default, ...Object.values(this.rules?.paths ?? {})];
    return all.some((l) => l === undefined || l.some((p) => need.includes(p)));
  }

  private async exists(path: string): Promise<boolean> {
    try {
      await this.inner.stat(path);
      return true;
    } catch (e) {
      if (errorCode(e) === 'ENOTRESPONDING') throw e;
      return false;
    }
  }

  override async open(path: string, flags: OpenFlags, mode?: number): Promise<StoredFile> {
    const fast = await this.openAnywhere(path, flags, mode);
    if (fast) return fast;
    const at = await this.target(path);
    const need: Perm[] = [];
    if (flags.read) need.push('download');
    let f = flags;
    if (flags.write) {
      if (await this.exists(path)) need.push('overwrite');
      else {
        need.push('upload');
        // created meanwhile by another session: without overwrite, fail rather than replace it
        if (!rightsAt(this.rules, at).has('overwrite')) f = { ...flags, exclusive: true };
      }
    }
    this.require(at, ...need);
    const file = await this.inner.open(path, f, mode);
    this.granted.set(file, { at, need });
    return file;
  }

  /**
   * OPEN when the rules are the same at every path and grant all it may need: nothing to look up
   * first (where the path leads, whether the file exists: two lookups per upload, each failing
   * with an exception for a new file). Whether it needs `upload` or `overwrite` later (the rules
   * may change while it is open) is what the open found; where it is, the object it opened.
   * Undefined when the rules need the full check (which also words any refusal).
   */
  private async openAnywhere(
    path: string,
    flags: OpenFlags,
    mode?: number,
  ): Promise<StoredFile | undefined> {
    if (!sameEverywhere(this.rules)) return undefined;
    const rights = rightsAt(this.rules, '/');
    if (flags.read && !rights.has('download')) return undefined;
    if (flags.write && !(rights.has('upload') && rights.has('overwrite'))) return undefined;
    const file = await this.inner.open(path, flags, mode);
    const need: Perm[] = flags.read ? ['download'] : [];
    if (flags.write) need.push(file.created ? 'upload' : 'overwrite');
    this.granted.set(file, { at: file.where ?? (await this.target(path)), need });
    return file;
  }

  /** Where an open file is, as checked at its open (no lookup at each read and write). */
  private async fileAt(file: StoredFile): Promise<string> {
    return this.granted.get(file)?.at ?? this.target(file.path);
  }

  /** Checks again the rights a handle was opened with: `download`, or those to write. */
  private recheck(file: StoredFile, want: Perm): void {
    const g = this.granted.get(file);
    const need = g?.need.filter((p) => (want === 'download') === (p === 'download'));
    if (g && need?.length) this.require(g.at, ...need);
  }

  override read(file: StoredFile, offset: number, length: number, into: Buffer, at: number) {
    this.recheck(file, 'download');
    return this.inner.read(file, offset, length, into, at);
  }

  override write(file: StoredFile, offset: number, data: Buffer): Promise<void> {
    this.recheck(file, 'overwrite');
    return this.inner.write(file, offset, data);
  }

  /** Size needs `overwrite`, mode `chmod`, times any right to write there. */
  private checkAttrs(at: string, a: SetAttrs): void {
    if (a.size !== undefined) this.require(at, 'overwrite');
    if (a.permissions !== undefined) this.require(at, 'chmod');
    if (a.atime !== undefined || a.mtime !== undefined) {
      const r = rightsAt(this.rules, at);
      if (!r.has('upload') && !r.has('overwrite') && !r.has('chmod')) this.require(at, 'chmod');
    }
  }

  override async fsetstat(file: StoredFile, a: SetAttrs): Promise<void> {
    this.checkAttrs(await this.fileAt(file), a);
    return this.inner.fsetstat(file, a);
  }

  override async opendir(path: string): Promise<StoredDir> {
    const at = await this.target(path);
    this.require(at, 'list');
    const dir = await this.inner.opendir(path);
    this.dirs.set(dir, at);
    return dir;
  }

  override async readdir(dir: StoredDir, max: number): Promise<DirEntry[]> {
    this.require(this.dirs.get(dir) ?? (await this.target(dir.path)), 'list');
    return this.inner.readdir(dir, max);
  }

  override async setstat(path: string, a: SetAttrs): Promise<void> {
    this.checkAttrs(await this.target(path), a);
    return this.inner.setstat(path, a);
  }

  override async remove(path: string): Promise<void> {
    this.require(await this.name(path), 'delete');
    return this.inner.remove(path);
  }

  override async mkdir(path: string, mode?: number): Promise<void> {
    this.require(await this.name(path), 'mkdir');
    return this.inner.mkdir(path, mode);
  }

  override async rmdir(path: string): Promise<void> {
    this.require(await this.name(path), 'delete');
    return this.inner.rmdir(path);
  }

  /** `rename` at the source; at the target a new name (`upload`), and `overwrite` to replace one. */
  override async rename(from: string, to: string, replace: boolean): Promise<void> {
    this.require(await this.name(from), 'rename');
    const target = await this.name(to);
    this.require(target, 'upload');
    if (replace && (await this.exists(to))) this.require(target, 'overwrite');
    return this.inner.rename(from, to, replace);
  }

  override async symlink(linkPath: string, targetPath: string): Promise<void> {
    this.require(await this.name(linkPath), 'upload');
    return this.inner.symlink(linkPath, targetPath);
  }

  override async openRead(path: string): Promise<StoredFile> {
    this.require(await this.target(path), 'check');
    return this.inner.openRead(path);
  }

  override async hash(
    file: StoredFile,
    alg: HashAlgorithm,
    offset: number,
    length: number,
    blockSize: number,
  ): Promise<Buffer[]> {
    this.require(await this.fileAt(file), 'check');
    return this.inner.hash(file, alg, offset, length, blockSize);
  }

  override async copy(
    src: StoredFile,
    srcOffset: number,
    length: number,
    dst: StoredFile,
    dstOffset: number,
  ): Promise<void> {
    this.recheck(src, 'download');
    // into a handle opened without a right to write: refused here when no right to write holds
    if (this.granted.get(dst)?.need.some((p) => p !== 'download')) this.recheck(dst, 'overwrite');
    else this.require(await this.fileAt(dst), 'overwrite');
    return this.inner.copy(src, srcOffset, length, dst, dstOffset);
  }
}

// The user's storage as the account layer hands it to the protocol: every operation goes to the
// real storage, and what a user does is reported once, here, whatever the protocol: each transfer
// as one event when its handle closes (bytes, where it started, time, sha256), each change of a
// name with its outcome, each refusal with its reason, and the bytes and handles as they move.
import { performance } from 'node:perf_hooks';
import { errorCode, errorText } from '../fs/errors.js';
import type { OpenFlags, SetAttrs, Storage, StoredDir, StoredFile } from '../fs/storage.js';
import { StorageWrapper } from './storage-wrapper.js';
import type { AccountObserver, AuditEvent, EventPlace } from './events.js';

/** Who is working: the fields every event of this login carries, and its running totals. */
export interface LoginInfo {
  readonly user: string;
  readonly addr: string;
  readonly session: string;
  bytesUp: number;
  bytesDown: number;
  handles: number;
}

interface Transfer {
  started: number;
  write: boolean;
  bytes: number;
  offset?: number;
  error?: string;
}

/** The refusal an error stands for, if it is one. */
function refusalOf(e: unknown): AuditEvent['reason'] | undefined {
  switch (errorCode(e)) {
    case 'EQUOTA':
      return 'quota';
    case 'EACCES':
    case 'EPERM':
    case 'ENOTALLOWED':
      return 'permission';
    case 'EMFILE':
    case 'ENFILE':
      return 'limit';
    default:
      return undefined;
  }
}

export class ObservedStorage extends StorageWrapper {
  private readonly transfers = new WeakMap<StoredFile, Transfer>();

  constructor(
    inner: Storage,
    private readonly who: LoginInfo,
    private readonly observer: AccountObserver,
    /** the real home, passed with each event (hooks build the real path of a file from it) */
    private readonly place?: EventPlace,
  ) {
    super(inner);
  }

  private emit(e: AuditEvent): void {
    this.observer.event(
      {
        user: this.who.user,
        addr: this.who.addr,
        session: this.who.session,
        ...e,
      },
      this.place,
    );
  }

  /**
   * Reports a refusal (quota, permission, limit) and passes the error on. `audit`: false for the
   * later refusals of one transfer (a client's pipelined writes fail one after the other).
   */
  private refused(e: unknown, path: string, audit = true): unknown {
    const reason = refusalOf(e);
    if (reason === 'quota') this.observer.quotaRefused();
    if (reason && audit) this.emit({ event: 'refused', reason, path, status: errorText(e) });
    return e;
  }

  /** Runs a change of a name and reports it with its outcome. */
  private async change(
    event: AuditEvent['event'],
    path: string,
    fn: () => Promise<void>,
    target?: string,
  ): Promise<void> {
    try {
      await fn();
      this.emit({ event, path, target, status: 'ok' });
    } catch (e) {
      this.emit({ event, path, target, status: errorText(e) });
      throw this.refused(e, path);
    }
  }

  private opened(): void {
    this.who.handles++;
    this.observer.handles(1);
  }

  private closed(): void {
    this.who.handles--;
    this.observer.handles(-1);
  }

  override async open(path: string, flags: OpenFlags, mode?: number): Promise<StoredFile> {
    let file: StoredFile;
    try {
      file = await this.inner.open(path, flags, mode);
    } catch (e) {
      throw this.refused(e, path);
    }
    this.opened();
    this.transfers.set(file, { started: performance.now(), write: flags.write, bytes: 0 });
    return file;
  }

  override async read(file: StoredFile, offset: number, length: number, into: Buffer, at: number) {
    const n = await this.inner.read(file, offset, length, into, at);
    const t = this.transfers.get(file);
    if (t) {
      t.offset ??= offset;
      t.bytes += n;
    }
    if (n > 0) {
      this.who.bytesDown += n;
      this.observer.transferred('download', n, this.who.user);
    }
    return n;
  }

  override async write(file: StoredFile, offset: number, data: Buffer): Promise<void> {
    const t = this.transfers.get(file);
    // where the transfer started: its lowest offset (writes in flight may arrive out of order);
    // an APPEND handle writes at the end, whatever the offset says
    if (t && !file.append) {
      if (t.offset === undefined || offset < t.offset) t.offset = offset;
    } else if (t && t.offset === undefined) t.offset = (await this.inner.fstat(file)).size;
    try {
      await this.inner.write(file, offset, data);
    } catch (e) {
      const first = t?.error === undefined;
      if (t) t.error ??= errorText(e);
      throw this.refused(e, file.path, first);
    }
    if (t) t.bytes += data.length;
    this.who.bytesUp += data.length;
    this.observer.transferred('upload', data.length, this.who.user);
  }

  override async close(file: StoredFile): Promise<void> {
    const t = this.transfers.get(file);
    if (!t) return this.inner.close(file); // closed already, or a hashing handle (openRead)
    this.transfers.delete(file);
    try {
      await this.inner.close(file);
    } catch (e) {
      t.error ??= errorText(e);
      throw e;
    } finally {
      this.closed();
      this.emit({
        event: t.write ? 'upload' : 'download',
        path: file.path,
        bytes: t.bytes,
        offset: t.offset ?? 0,
        ms: Math.round(performance.now() - t.started),
        status: t.error ?? 'ok',
        sha256: t.write && !t.error && (t.offset ?? 0) === 0 ? file.sha256 : undefined,
      });
    }
  }

  override fsetstat(file: StoredFile, a: SetAttrs): Promise<void> {
    return this.change('setstat', file.path, () => this.inner.fsetstat(file, a));
  }

  override async opendir(path: string): Promise<StoredDir> {
    const d = await this.inner.opendir(path);
    this.opened();
    return d;
  }

  override async closedir(dir: StoredDir): Promise<void> {
    try {
      await this.inner.closedir(dir);
    } finally {
      this.closed();
    }
  }

  override setstat(path: string, a: SetAttrs): Promise<void> {
    return this.change('setstat', path, () => this.inner.setstat(path, a));
  }

  override remove(path: string): Promise<void> {
    return this.change('remove', path, () => this.inner.remove(path));
  }

  override mkdir(path: string, mode?: number): Promise<void> {
    return this.change('mkdir', path, () => this.inner.mkdir(path, mode));
  }

  override rmdir(path: string): Promise<void> {
    return this.change('rmdir', path, () => this.inner.rmdir(path));
  }

  override rename(from: string, to: string, replace: boolean): Promise<void> {
    return this.change('rename', from, () => this.inner.rename(from, to, replace), to);
  }

  override async symlink(linkPath: string, targetPath: string): Promise<void> {
    try {
      await this.inner.symlink(linkPath, targetPath);
    } catch (e) {
      throw this.refused(e, linkPath);
    }
  }

  override async copy(...args: Parameters<Storage['copy']>): Promise<void> {
    const dst = args[3];
    try {
      await this.inner.copy(...args);
    } catch (e) {
      throw this.refused(e, dst.path);
    }
  }
}

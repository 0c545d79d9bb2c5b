// Per-user quota ledger, shared by all sessions of a user (server/account/ledgers.ts keeps them).
//
// used = sum of st_size of the regular files in the home (from a scan at first login), where a file
// that is open for writing counts with its tracked size: the largest size any write or resize has
// reserved. A write that grows a file reserves the growth first, so stored bytes never pass the
// limit whatever the order of concurrent writes. Closing a file reconciles its tracked size with
// the disk.
import { QuotaError } from './errors.js';
import type { RunningHash } from './digests.js';

/** Size bookkeeping for one open file (one inode), shared by all handles on it. */
export class TrackedFile {
  refs = 0;
  /** SHA-256 of the content while it is written in sequence from offset 0 (see digests.ts) */
  running: RunningHash | undefined;
  /** mtime after our latest write, while `running` is kept */
  writtenMtime: bigint | undefined;
  /** writes in flight, and resizes waiting for them to finish */
  private writers = 0;
  private exclusive = false;
  private waiting: Array<() => void> = [];

  constructor(
    readonly key: string,
    /** size as the ledger counts it: >= the size on disk */
    public size: number,
  ) {}

  /** Writes share the file; a resize waits until they are done and holds it alone. */
  async acquire(exclusive: boolean): Promise<void> {
    while (this.exclusive || (exclusive && this.writers > 0)) {
      await new Promise<void>((r) => this.waiting.push(r));
    }
    if (exclusive) this.exclusive = true;
    else this.writers++;
  }

  release(exclusive: boolean): void {
    if (exclusive) this.exclusive = false;
    else this.writers--;
    const w = this.waiting;
    this.waiting = [];
    for (const wake of w) wake();
  }
}

/**
 * What the storage layer asks of a user's quota. `reserve` answers synchronously (undefined) when it
 * can, so that the common write stays on one tick; a cluster ledger returns a promise while it
 * fetches more of its grant from the database.
 */
export interface QuotaLedger {
  /** bytes allowed; 0 = unlimited (the account layer sets it from the record, also live) */
  limit: number;
  readonly unlimited: boolean;
  /** bytes that can still be written (statvfs) */
  free(): number;
  /** Reserves n bytes, or throws / rejects (QuotaError) without changing anything. */
  reserve(n: number): void | Promise<void>;
  /** Gives back n bytes (after a truncation, removal or a write that did not happen). */
  give(n: number): void;
  /** Adjusts for a size found on disk that differs from what was counted (never refuses). */
  correct(delta: number): void;
  track(dev: number, ino: number, size: number): TrackedFile;
  /** Called when a handle closes; `disk` is the file's state at that moment. */
  untrack(f: TrackedFile, disk: { size: number; nlink: number }): void;
  /** The tracked size of an open inode, if any handle has it open. */
  openFile(dev: number, ino: number): TrackedFile | undefined;
  /** No session holds the ledger any more (the account layer dropped it): a cluster ledger settles. */
  close?(): void;
}

/** The open files of a ledger (shared by every kind of ledger); subclasses keep the bytes. */
export abstract class FileLedger implements QuotaLedger {
  private files = new Map<string, TrackedFile>();
  abstract limit: number;
  abstract free(): number;
  abstract reserve(n: number): void | Promise<void>;
  abstract give(n: number): void;
  abstract correct(delta: number): void;

  get unlimited(): boolean {
    return this.limit === 0;
  }

  /** Open files for writing, on this ledger. */
  get openFiles(): number {
    return this.files.size;
  }

  /** Called when the last open file closes (a cluster ledger settles then). */
  protected idle(): void {}

  track(dev: number, ino: number, size: number): TrackedFile {
    const key = `${dev}:${ino}`;
    let f = this.files.get(key);
    if (!f) {
      f = new TrackedFile(key, size);
      this.files.set(key, f);
    }
    f.refs++;
    return f;
  }

  untrack(f: TrackedFile, disk: { size: number; nlink: number }): void {
    f.refs--;
    if (f.refs > 0) return;
    this.files.delete(f.key);
    // a removed file gives all its space back; otherwise count what is really there
    if (disk.nlink === 0) this.give(f.size);
    else this.correct(disk.size - f.size);
    if (this.files.size === 0) this.idle();
  }

  openFile(dev: number, ino: number): TrackedFile | undefined {
    return this.files.get(`${dev}:${ino}`);
  }
}

/** The in-memory ledger of one node (the file store): used bytes against the limit. */
export class Ledger extends FileLedger {
  constructor(
    /** bytes allowed; 0 = unlimited */
    public limit: number,
    public used: number,
  ) {
    super();
  }

  free(): number {
    return this.unlimited ? Number.MAX_SAFE_INTEGER : Math.max(0, this.limit - this.used);
  }

  /** Reserves n bytes or throws QuotaError without changing anything. */
  reserve(n: number): void {
    if (n <= 0) return;
    if (!this.unlimited && this.used + n > this.limit) throw new QuotaError(this.free());
    this.used += n;
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }

  correct(delta: number): void {
    this.used = Math.max(0, this.used + delta);
  }
}

// the scan of a home at the first login lives in usage.ts (it runs through the home's gate)
export { scanUsage } from './usage.js';

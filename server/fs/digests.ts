// SHA-256 of files computed while they are written, so that a client's verification right after an
// upload (`sha256sum PATH`) costs no second pass over the data.
//
// A file written from offset 0 to its end (as every client writes a fresh upload) is hashed write
// by write; at close the digest is remembered for that inode, size, mtime and ctime. Writes may
// arrive a little out of order (clients with several writes in flight send them as their local
// reads finish: ssh2-sftp-client's fastPut, rclone, WinSCP): where something reads the upload's
// digest (keepAhead: the audit log, upload hooks), a write past the hashed end is kept aside (a
// copy, within AHEAD_BYTES per file and AHEAD_TOTAL in all) until the writes before it arrive;
// elsewhere it drops the hash. Any other pattern (a write over bytes already hashed or kept, too
// much kept aside) simply drops the running hash, and a changed file no longer matches its entry:
// ctime is in the stamp because a client may set mtime back (tools that preserve timestamps do, and a
// new version of the same size would then match), while ctime changes with every write or SETSTAT
// and cannot be set.
// It also admits hash work (hashSlot), so that hashing is bounded in memory and threads.
import { createHash, type Hash } from 'node:crypto';

/**
 * Bytes and writes one file may keep aside past its hashed end. A client's disorder can span all
 * the writes it has in flight: when one local read is late the others go on. fastPut's defaults
 * (64 in flight) kept at most 2.5 MiB in 79 writes with 32 KiB chunks and 9.5 MiB in 38 writes with
 * 255 KiB chunks (3 uploads of 512 MiB each, this machine shared and loaded), so 16 MiB covers its
 * whole window of 64 x 255 KiB. The memory is held only while a gap is open (usually for a few
 * writes), and never more than AHEAD_TOTAL for all files together, whatever the number of open
 * handles (2048 per user): past it a hash is dropped, as before, and the upload goes on.
 */
export const AHEAD_BYTES = 16 * 1024 * 1024;
export const AHEAD_WRITES = 256;
export const AHEAD_TOTAL = 64 * 1024 * 1024;
let aheadTotal = 0;

interface Ahead {
  at: number;
  data: Buffer;
}

export class RunningHash {
  /**
   * keepAhead: keep writes past the hashed end aside (see feed). Only worth it where the digest of
   * such an upload is read (the audit log, upload hooks: FsContext.keepAhead): the copies and the
   * hashing cost a fastPut ~0.4 s of server CPU per 512 MiB and hold up to AHEAD_BYTES. Without
   * it a write out of order voids the hash; writes in order are hashed either way.
   */
  constructor(private readonly keepAhead: boolean) {}

  private hash: Hash | undefined = createHash('sha256');
  /** the hashed end: bytes [0, pos) are hashed */
  pos = 0;
  /** copies of writes past pos, in offset order, disjoint; undefined when none (the common case) */
  private ahead: Ahead[] | undefined;
  private aheadBytes = 0;

  /** Whether the hash still stands (no write pattern or release has voided it). */
  get valid(): boolean {
    return this.hash !== undefined;
  }

  /** Where the writes fed so far end (past pos while some are kept aside). */
  get end(): number {
    const a = this.ahead;
    if (!a) return this.pos;
    const last = a[a.length - 1]!;
    return last.at + last.data.length;
  }

  /**
   * Feeds a write (before it is on disk: the hash uses the data, never the file). Returns false
   * when the hash is void: the write overlaps bytes already fed, or it would keep too much aside
   * (or anything at all, without keepAhead).
   */
  feed(at: number, data: Buffer): boolean {
    const h = this.hash;
    if (!h) return false;
    // the in-order case, every write of a sequential upload: as cheap as a hash update
    if (at === this.pos && this.ahead === undefined) {
      h.update(data);
      this.pos += data.length;
      return true;
    }
    return this.feedOutOfOrder(h, at, data);
  }

  private feedOutOfOrder(h: Hash, at: number, data: Buffer): boolean {
    const end = at + data.length;
    if (at < this.pos || !this.keepAhead) return this.release();
    const a = (this.ahead ??= []);
    // the first kept write that ends after this one starts: it must start at or after this end
    let i = a.length;
    while (i > 0 && a[i - 1]!.at + a[i - 1]!.data.length > at) i--;
    if (i < a.length && a[i]!.at < end) return this.release();
    if (at === this.pos) {
      h.update(data);
      this.pos = end;
      // the writes kept aside that now follow on (at most AHEAD_BYTES: ~10 ms of hashing)
      let k = 0;
      while (k < a.length && a[k]!.at === this.pos) {
        h.update(a[k]!.data);
        this.pos += a[k]!.data.length;
        this.aheadBytes -= a[k]!.data.length;
        aheadTotal -= a[k]!.data.length;
        k++;
      }
      a.splice(0, k);
      if (a.length === 0) this.ahead = undefined;
      return true;
    }
    if (
      a.length >= AHEAD_WRITES ||
      this.aheadBytes + data.length > AHEAD_BYTES ||
      aheadTotal + data.length > AHEAD_TOTAL
    )
      return this.release();
    // a copy: the caller may reuse its buffer once the write is done (copy-data does)
    a.splice(i, 0, { at, data: Buffer.from(data) });
    this.aheadBytes += data.length;
    aheadTotal += data.length;
    return true;
  }

  /** Whether every byte fed so far is hashed (nothing kept aside, nothing voided). */
  get whole(): boolean {
    return this.hash !== undefined && this.ahead === undefined;
  }

  /** The digest of [0, pos); the hash is used up. */
  digest(): Buffer {
    const d = this.hash!.digest();
    this.release();
    return d;
  }

  /** Voids the hash and gives back what it kept aside (safe to call again); returns false. */
  release(): boolean {
    this.hash = undefined;
    aheadTotal -= this.aheadBytes;
    this.aheadBytes = 0;
    this.ahead = undefined;
    return false;
  }
}

/** Bytes kept aside by all running hashes (tests). */
export function aheadBytes(): number {
  return aheadTotal;
}

interface Entry {
  stamp: string;
  digest: Buffer;
}

const MAX_ENTRIES = 4096;
const cache = new Map<string, Entry>();

/** What identifies one version of a file's content (with its inode, the cache key). */
export interface Stamp {
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

function stamp(st: Stamp): string {
  return `${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

export function remember(key: string, st: Stamp, digest: Buffer): void {
  cache.delete(key);
  cache.set(key, { stamp: stamp(st), digest });
  if (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value!);
}

export function recall(key: string, st: Stamp): Buffer | undefined {
  const e = cache.get(key);
  return e && e.stamp === stamp(st) ? e.digest : undefined;
}

/**
 * Hash work admitted at once: at most PER_USER requests of one user and TOTAL requests in all run
 * side by side, the others wait in arrival order (one request per session at most, as check-file
 * runs alone in its session, so the queue is bounded by the sessions). Each running request holds
 * one read buffer (HASH_CHUNK in userfs.ts), so hashing never takes more than TOTAL buffers of
 * memory nor more than TOTAL threads of libuv's pool, whatever the number of sessions.
 */
const PER_USER = 2;
const TOTAL = 4;
let running = 0;
const perUser = new WeakMap<object, number>();
const queue: Array<{ owner: object; wake: () => void }> = [];

function admits(owner: object): boolean {
  return running < TOTAL && (perUser.get(owner) ?? 0) < PER_USER;
}

function take(owner: object): void {
  running++;
  perUser.set(owner, (perUser.get(owner) ?? 0) + 1);
}

/** Waits for a hash slot of `owner` (one object per user); returns its release function. */
export async function hashSlot(owner: object): Promise<() => void> {
  if (queue.length === 0 && admits(owner)) take(owner);
  else await new Promise<void>((wake) => queue.push({ owner, wake }));
  let released = false;
  return () => {
    if (released) return;
    released = true;
    running--;
    perUser.set(owner, (perUser.get(owner) ?? 1) - 1);
    // wake the first waiters that fit, in order (a user at its limit does not hold back others)
    for (let i = 0; i < queue.length && running < TOTAL;) {
      const w = queue[i]!;
      if (admits(w.owner)) {
        queue.splice(i, 1);
        take(w.owner);
        w.wake();
      } else i++;
    }
  };
}

// SHA-256 of files computed while they are written, so that a client's verification right after an
// upload (`sha256sum PATH`) costs no second pass over the data.
//
// A file written from offset 0 straight to its end (as every client writes a fresh upload) is hashed
// write by write; at close the digest is remembered for that inode, size, mtime and ctime. Any other
// write pattern simply drops the running hash, and a changed file no longer matches its entry:
// ctime is in the stamp because a client may set mtime back (tools that preserve timestamps do, and a
// new version of the same size would then match), while ctime changes with every write or SETSTAT
// and cannot be set.
// It also admits hash work (hashSlot), so that hashing is bounded in memory and threads.
import { createHash, type Hash } from 'node:crypto';

export class RunningHash {
  private hash: Hash = createHash('sha256');
  pos = 0;

  /** Feeds a write; returns false when it is not the next one in sequence (the hash is void). */
  feed(at: number, data: Buffer): boolean {
    if (at !== this.pos) return false;
    this.hash.update(data);
    this.pos += data.length;
    return true;
  }

  digest(): Buffer {
    return this.hash.digest();
  }
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

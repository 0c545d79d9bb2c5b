// SHA-256 of files computed while they are written, so that a client's verification right after an
// upload (`sha256sum PATH`) costs no second pass over the data.
//
// A file written from offset 0 straight to its end (as every client writes a fresh upload) is hashed
// write by write; at close the digest is remembered for that inode, size and mtime. Any other
// write pattern simply drops the running hash, and a changed file no longer matches its entry.
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

function stamp(st: { size: bigint; mtimeNs: bigint }): string {
  return `${st.size}:${st.mtimeNs}`;
}

export function remember(key: string, st: { size: bigint; mtimeNs: bigint }, digest: Buffer): void {
  cache.delete(key);
  cache.set(key, { stamp: stamp(st), digest });
  if (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value!);
}

export function recall(key: string, st: { size: bigint; mtimeNs: bigint }): Buffer | undefined {
  const e = cache.get(key);
  return e && e.stamp === stamp(st) ? e.digest : undefined;
}

// Reading whole ranges of open files: copy-data (through the quota, one buffer at a time) and the
// block hashes of check-file and the exec hash command (served from the streamed digest when it is
// known). Functions over an FsContext; UserFs (userfs.ts) is their facade.
import { createHash } from 'node:crypto';
import { errno } from './errors.js';
import { hashSlot, recall, remember } from './digests.js';
import { open, OpenFile, read, write, type FsContext } from './files.js';
import type { HashAlgorithm } from './storage.js';

/** read size of hashing: the one buffer a hash request holds */
const HASH_CHUNK = 1024 * 1024;
/** most blocks one hash request may ask for (check-file replies hold fewer, see handlers.ts) */
export const HASH_MAX_BLOCKS = 16384;
/**
 * A whole-file sha256 is remembered only for a file last changed (ctime) at least this long before the
 * hash began: file times are coarse (a clock tick), so a write within the tick of the last one
 * leaves mtime as it is, and a digest of a file that was just written could be of a mix.
 */
const SETTLED_NS = 1_000_000_000n;

/**
 * copy-data: copies a range between two open files through the quota (length 0 = to EOF). One
 * 256 KiB buffer per request, each chunk reserved in the quota before it is written (a copy
 * over the quota stops there, as an upload does); reads and writes of that size run in the
 * thread pool, so other sessions are served between chunks.
 */
export async function copy(
  fs: FsContext,
  src: OpenFile,
  srcOffset: number,
  length: number,
  dst: OpenFile,
  dstOffset: number,
): Promise<void> {
  // length 0 = to the end as it is now (a copy into the same file must not chase its own end)
  const a = await fs.jail.run((s) => s.fstat(src.fd));
  if (length === 0) length = Math.max(0, a.size - srcOffset);
  const b = await fs.jail.run((s) => s.fstat(dst.fd));
  const overlap = srcOffset < dstOffset + length && dstOffset < srcOffset + length;
  if (a.dev === b.dev && a.ino === b.ino && overlap && length > 0) {
    throw errno('EINVAL', 'source and destination overlap');
  }
  const buf = Buffer.allocUnsafe(256 * 1024);
  let done = 0;
  while (done < length) {
    const want = Math.min(buf.length, length - done);
    const n = await read(fs, src, srcOffset + done, want, buf, 0);
    if (n === 0) break;
    await write(fs, dst, dstOffset + done, buf.subarray(0, n)); // done with buf when it returns
    done += n;
  }
}

/** Opens a file for reading only (hash commands, check-file-name). */
export function openRead(fs: FsContext, path: string): Promise<OpenFile> {
  return open(fs, path, {
    read: true,
    write: false,
    append: false,
    create: false,
    truncate: false,
    exclusive: false,
  });
}

/**
 * Hashes [offset, offset+length) (length 0 = to EOF), one digest per block (blockSize 0 = one
 * block). At most HASH_MAX_BLOCKS blocks (refused before any read). Waits for a hash slot of this
 * user (digests.ts), then reads HASH_CHUNK at a time and hashes the blocks within each chunk,
 * yielding to the event loop between chunks, so that neither a huge file nor tiny blocks ever
 * stall other sessions or hold more than one buffer.
 */
export async function hash(
  fs: FsContext,
  file: OpenFile,
  alg: HashAlgorithm,
  offset: number,
  length: number,
  blockSize: number,
): Promise<Buffer[]> {
  const release = await hashSlot(fs.ledger);
  try {
    const began = BigInt(Date.now()) * 1_000_000n;
    const st = await fs.jail.run((s) => s.fstatBig(file.fd));
    const size = Number(st.size);
    const key = `${st.dev}:${st.ino}`;
    const whole =
      alg === 'sha256' && offset === 0 && blockSize === 0 && (length === 0 || length >= size);
    if (whole) {
      const known = recall(key, st);
      if (known) return [known];
    }
    const end = length === 0 ? size : Math.min(size, offset + length);
    const range = Math.max(0, end - offset);
    const blocks = blockSize === 0 ? 1 : Math.max(1, Math.ceil(range / blockSize));
    if (blocks > HASH_MAX_BLOCKS) throw errno('EINVAL', `too many blocks (${blocks})`);
    const digests: Buffer[] = [];
    const buf = Buffer.allocUnsafe(Math.min(HASH_CHUNK, Math.max(1, range)));
    let h = createHash(alg);
    let left = blockSize === 0 ? range : Math.min(blockSize, range); // bytes left in this block
    let pos = offset;
    while (pos < end) {
      const n = await read(fs, file, pos, Math.min(buf.length, end - pos), buf, 0);
      if (n === 0) break; // the file shrank: the last block ends here
      for (let i = 0; i < n;) {
        const take = Math.min(left, n - i);
        h.update(buf.subarray(i, i + take));
        i += take;
        left -= take;
        if (left === 0 && pos + i < end) {
          digests.push(h.digest());
          h = createHash(alg);
          left = Math.min(blockSize, end - pos - i);
        }
      }
      pos += n;
      await new Promise<void>((r) => setImmediate(r));
    }
    digests.push(h.digest());
    // the next client that asks for this file's sha256 (a second download) is answered at once,
    // if the file was settled before the hash began and is unchanged after it
    // (ctime: a SETSTAT of mtime into the past changes it, so "settled" cannot be faked)
    if (whole && pos === size && st.ctimeNs + SETTLED_NS <= began) {
      const after = await fs.jail.run((s) => s.fstatBig(file.fd));
      const same =
        after.size === st.size && after.mtimeNs === st.mtimeNs && after.ctimeNs === st.ctimeNs;
      if (same) remember(key, st, digests[0]!);
    }
    return digests;
  } finally {
    release();
  }
}

// The transfer engine: many READ/WRITE requests in flight at once, starting at any offset (resume).
// Local data is read and written strictly in order, so a partial local file is always a clean
// prefix; uploads are sent in order, so a server that handles requests in order keeps a prefix too.
import { open as openLocal, type FileHandle } from 'node:fs/promises';
import { Interrupted } from './errors.js';
import { sharedBuffer, type StreamHash } from './hasher.js';
import { OPEN, type Remote } from './remote.js';

export interface TransferParams {
  remote: Remote;
  localPath: string;
  remotePath: string;
  /** offset where the transfer starts (0, or the size of the partial file when resuming) */
  start: number;
  /** size of the source file */
  size: number;
  signal: AbortSignal;
  /** bytes of the destination known good so far (starts at `start`) */
  onProgress: (done: number) => void;
  concurrency?: number;
  /**
   * Fed with the bytes [start, size) in file order as they are sent or received (the caller has
   * fed it [0, start)), so that verification needs no second pass over the local file.
   */
  hash?: StreamHash;
}

const DEFAULT_CONCURRENCY = Number(process.env.JAILSFTP_REQUESTS) || 64;
/** Upload: requests read from the local file with one read (ssh2 copies what it sends). */
const READ_CHUNKS = 8;
/** Upload: blocks read ahead while the hash of earlier ones is computed in the hash worker. */
const MAX_BLOCKS = 4;
/** Download: at most this many received pieces go to the local file in one writev. */
const MAX_WRITEV = 32;

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error && !(signal.reason.name === 'AbortError')
    ? signal.reason
    : new Interrupted();
}

/** Uploads localPath[start..size) to remotePath at the same offsets. */
export async function upload(p: TransferParams): Promise<void> {
  const { remote, signal } = p;
  const chunk = remote.chunkSizes().write;
  const concurrency = p.concurrency ?? DEFAULT_CONCURRENCY;
  const flags = OPEN.WRITE | OPEN.CREAT | (p.start === 0 ? OPEN.TRUNC : 0);
  const fh = await openLocal(p.localPath, 'r');
  let handle: Buffer | undefined;
  try {
    handle = await remote.open(p.remotePath, flags);
    const h = handle;
    await new Promise<void>((resolve, reject) => {
      let pos = p.start;
      let done = p.start;
      let inflight = 0;
      let reading = false;
      let failure: unknown;
      let settled = false;
      let offLost = (): void => undefined;
      const finish = (): void => {
        if (settled || inflight > 0 || reading) return;
        if (failure !== undefined) {
          settled = true;
          offLost();
          reject(failure);
        } else if (signal.aborted) {
          settled = true;
          offLost();
          reject(abortError(signal));
        } else if (done >= p.size) {
          settled = true;
          offLost();
          resolve();
        }
      };
      const fail = (err: unknown): void => {
        if (failure === undefined) failure = err;
        finish();
      };
      // One block of READ_CHUNKS requests is read at a time; ssh2 copies each request into its own
      // packet, so a block is free again once its requests are issued and its hash is computed.
      const blockSize = Math.min(chunk * READ_CHUNKS, Math.max(p.size - p.start, 1));
      const free: Buffer[] = [];
      let blocks = 0;
      let wake: (() => void) | undefined;
      const release = (b: Buffer): void => {
        free.push(b);
        const w = wake;
        wake = undefined;
        w?.();
      };
      const takeBlock = async (): Promise<Buffer> => {
        for (;;) {
          const b = free.pop();
          if (b) return b;
          if (blocks < MAX_BLOCKS) {
            blocks++;
            return p.hash?.shared ? sharedBuffer(blockSize) : Buffer.allocUnsafe(blockSize);
          }
          await new Promise<void>((r) => (wake = r));
        }
      };
      let block: Buffer = Buffer.alloc(0);
      let blockLen = 0;
      let blockOff = 0;
      const pump = async (): Promise<void> => {
        if (reading) return;
        reading = true;
        try {
          while (
            failure === undefined &&
            !signal.aborted &&
            pos < p.size &&
            inflight < concurrency
          ) {
            if (blockOff >= blockLen) {
              const b = await takeBlock();
              if (failure !== undefined || signal.aborted) {
                free.push(b);
                break;
              }
              const want = Math.min(b.length, p.size - pos);
              let got = 0;
              try {
                while (got < want) {
                  const { bytesRead } = await fh.read(b, got, want - got, pos + got);
                  if (bytesRead === 0) throw new Error('the local file shrank during the transfer');
                  got += bytesRead;
                }
              } catch (err) {
                free.push(b);
                throw err;
              }
              if (p.hash)
                p.hash.update(b.subarray(0, want)).then(
                  () => release(b),
                  (err: unknown) => {
                    release(b);
                    fail(err);
                  },
                );
              else release(b);
              block = b;
              blockLen = want;
              blockOff = 0;
              if (failure !== undefined || signal.aborted) break;
            }
            remote.corked(() => {
              while (blockOff < blockLen && inflight < concurrency) {
                const len = Math.min(chunk, blockLen - blockOff);
                const at = pos;
                pos += len;
                inflight++;
                remote.sftp.write(h, block, blockOff, len, at, (err) => {
                  inflight--;
                  if (err) return fail(err);
                  done += len;
                  p.onProgress(done);
                  void pump();
                  finish();
                });
                blockOff += len;
              }
            });
          }
        } catch (err) {
          if (failure === undefined) failure = err;
        } finally {
          reading = false;
        }
        finish();
      };
      signal.addEventListener('abort', finish, { once: true });
      offLost = remote.onLost((err) => {
        if (failure === undefined) failure = err;
        // the replies will never come
        inflight = 0;
        finish();
      });
      if (p.size <= p.start) finish();
      else void pump();
    });
  } finally {
    await fh.close().catch(() => undefined);
    if (handle) await closeQuietly(remote, handle);
  }
}

/** Downloads remotePath[start..size) into localPath at the same offsets. */
export async function download(p: TransferParams): Promise<void> {
  const { remote, signal } = p;
  const chunk = remote.chunkSizes().read;
  const concurrency = p.concurrency ?? DEFAULT_CONCURRENCY;
  const handle = await remote.open(p.remotePath, OPEN.READ);
  let fh: FileHandle | undefined;
  try {
    fh = await openLocal(p.localPath, p.start > 0 ? 'r+' : 'w');
    if (p.start > 0) await fh.truncate(p.start);
    const file = fh;
    await new Promise<void>((resolve, reject) => {
      let next = p.start;
      let written = p.start;
      let inflight = 0;
      let writing = false;
      let failure: unknown;
      let settled = false;
      const retry: { off: number; len: number }[] = [];
      const ready = new Map<number, { buf: Buffer; len: number }>();
      const pool: Buffer[] = [];
      let offLost = (): void => undefined;
      const finish = (): void => {
        if (settled || inflight > 0 || writing) return;
        if (failure !== undefined) {
          settled = true;
          offLost();
          reject(failure);
        } else if (signal.aborted) {
          settled = true;
          offLost();
          reject(abortError(signal));
        } else if (written >= p.size) {
          settled = true;
          offLost();
          resolve();
        }
      };
      const fail = (err: unknown): void => {
        if (failure === undefined) failure = err;
        finish();
      };
      const flush = async (): Promise<void> => {
        if (writing) return;
        writing = true;
        try {
          while (failure === undefined && ready.has(written)) {
            // every piece that follows on goes out in one writev
            const pieces: Buffer[] = [];
            const views: Buffer[] = [];
            const hashing: Promise<void>[] = [];
            let at = written;
            let piece: { buf: Buffer; len: number } | undefined;
            while (pieces.length < MAX_WRITEV && (piece = ready.get(at)) !== undefined) {
              ready.delete(at);
              const view = piece.buf.subarray(0, piece.len);
              if (p.hash) hashing.push(p.hash.update(view));
              pieces.push(piece.buf);
              views.push(view);
              at += piece.len;
            }
            await Promise.all([writeAll(file, views, written), ...hashing]);
            written = at;
            for (const b of pieces) pool.push(b);
            p.onProgress(written);
            // more requests while the next pieces are written
            issue();
          }
        } catch (err) {
          if (failure === undefined) failure = err;
        } finally {
          writing = false;
        }
        issue();
        finish();
      };
      const issue = (): void => remote.corked(issueSome);
      const issueSome = (): void => {
        while (
          failure === undefined &&
          !signal.aborted &&
          inflight + ready.size < concurrency &&
          (retry.length > 0 || next < p.size)
        ) {
          const r = retry.shift() ?? { off: next, len: Math.min(chunk, p.size - next) };
          if (r.off === next) next += r.len;
          const buf =
            pool.pop() ?? (p.hash?.shared ? sharedBuffer(chunk) : Buffer.allocUnsafe(chunk));
          inflight++;
          remote.sftp.read(handle, buf, 0, r.len, r.off, (err, nb) => {
            inflight--;
            if (err || nb === 0) {
              pool.push(buf);
              if (!err || (err as { code?: unknown }).code === 1)
                return fail(new Error('the remote file shrank during the transfer'));
              return fail(err);
            }
            ready.set(r.off, { buf, len: nb });
            if (nb < r.len) retry.unshift({ off: r.off + nb, len: r.len - nb });
            void flush();
            issue();
          });
        }
        finish();
      };
      signal.addEventListener('abort', finish, { once: true });
      offLost = remote.onLost((err) => {
        if (failure === undefined) failure = err;
        // the replies will never come
        inflight = 0;
        finish();
      });
      if (p.size <= p.start) finish();
      else issue();
    });
  } finally {
    await fh?.close().catch(() => undefined);
    await closeQuietly(remote, handle);
  }
}

/** Writes the buffers at `position`, in one writev unless the kernel takes less. */
async function writeAll(file: FileHandle, views: Buffer[], position: number): Promise<void> {
  let total = 0;
  for (const v of views) total += v.length;
  let { bytesWritten } = await file.writev(views, position);
  if (bytesWritten >= total) return;
  let at = position;
  for (const v of views) {
    if (bytesWritten >= v.length) {
      bytesWritten -= v.length;
      at += v.length;
      continue;
    }
    let off = bytesWritten;
    bytesWritten = 0;
    while (off < v.length) {
      const w = await file.write(v, off, v.length - off, at + off);
      off += w.bytesWritten;
    }
    at += v.length;
  }
}

async function closeQuietly(remote: Remote, handle: Buffer): Promise<void> {
  await Promise.race([
    remote.close(handle).catch(() => undefined),
    new Promise((r) => setTimeout(r, 3000).unref()),
  ]);
}

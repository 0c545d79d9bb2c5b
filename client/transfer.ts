// The transfer pipeline, one for both directions: many READ or WRITE requests in flight at once,
// starting at any offset (resume). One state machine (Flight) counts the requests in flight and the
// local I/O under way, keeps the first failure and settles once all is through, failed, interrupted
// or the connection is lost; a Sender (upload) or a Receiver (download) says what to issue next.
// Local data is read and written strictly in order, so a partial local file is always a clean
// prefix; uploads are sent in order, so a server that handles requests in order keeps a prefix too.
import { open as openLocal, type FileHandle } from 'node:fs/promises';
import { OpenFlag, Status } from '../common/wire.js';
import { Interrupted, sftpStatus } from './errors.js';
import { sharedBuffer, type StreamHash } from './hasher.js';
import type { Remote } from './remote.js';

export type Direction = 'upload' | 'download';

export interface TransferParams {
  direction: Direction;
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
/**
 * Download: at most this many received pieces (2 MiB of 255 KiB replies) go to the local file in
 * one writev. On the 2026-12-02 VM a writev of 32 (8 MiB) cost the kernel 1-2.5 s of system time
 * per GiB instead of ~0.4 s, erratically, and a get took twice as long (bench/README.md, "Where the
 * time goes: our client"); 2-4 MiB per call measured as cheap as smaller ones.
 */
const MAX_WRITEV = 8;

/** Copies localPath[start..size) to remotePath (upload) or back (download) at the same offsets. */
export async function transfer(p: TransferParams): Promise<void> {
  const { remote } = p;
  let local: FileHandle | undefined;
  let handle: Buffer | undefined;
  try {
    // the source is opened first: nothing is created on the other side when it cannot be read
    if (p.direction === 'upload') {
      local = await openLocal(p.localPath, 'r');
      const trunc = p.start === 0 ? OpenFlag.TRUNC : 0;
      handle = await remote.open(p.remotePath, OpenFlag.WRITE | OpenFlag.CREAT | trunc);
    } else {
      handle = await remote.open(p.remotePath, OpenFlag.READ);
      local = await openLocal(p.localPath, p.start > 0 ? 'r+' : 'w');
      if (p.start > 0) await local.truncate(p.start);
    }
    const flight = new Flight(p);
    const engine =
      p.direction === 'upload'
        ? new Sender(p, flight, local, handle)
        : new Receiver(p, flight, local, handle);
    await flight.run(engine);
  } finally {
    await local?.close().catch(() => undefined);
    if (handle) await closeQuietly(remote, handle);
  }
}

/** What drives one direction: issues requests and local I/O, and knows when all is through. */
abstract class Engine {
  /** bytes of the destination known good: acknowledged by the server, or written locally */
  protected done: number;
  /** bytes per request */
  protected readonly chunk: number;

  constructor(
    protected readonly p: TransferParams,
    protected readonly f: Flight,
    protected readonly file: FileHandle,
    protected readonly handle: Buffer,
  ) {
    this.done = p.start;
    const sizes = p.remote.chunkSizes();
    this.chunk = p.direction === 'upload' ? sizes.write : sizes.read;
  }

  complete(): boolean {
    return this.done >= this.p.size;
  }

  /** issues what may be issued now */
  abstract kick(): void;

  /** memory for data: shared when the hash runs in a worker thread */
  protected buffer(size: number): Buffer {
    return this.p.hash?.shared ? sharedBuffer(size) : Buffer.allocUnsafe(size);
  }
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error && !(signal.reason.name === 'AbortError')
    ? signal.reason
    : new Interrupted();
}

/** The state of one transfer: requests in flight, local I/O under way, the first failure. */
class Flight {
  inflight = 0;
  readonly concurrency: number;
  private busy = false;
  private failure: unknown;
  private settled = false;
  private engine: Engine | undefined;
  private settle: ((err?: unknown) => void) | undefined;

  constructor(private readonly p: TransferParams) {
    this.concurrency = p.concurrency ?? DEFAULT_CONCURRENCY;
  }

  /** false once the transfer failed or was interrupted: issue nothing more */
  get going(): boolean {
    return this.failure === undefined && !this.p.signal.aborted;
  }

  /** false once the transfer failed (an interrupted download still writes what has arrived) */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  run(engine: Engine): Promise<void> {
    this.engine = engine;
    return new Promise<void>((resolve, reject) => {
      const offLost = this.p.remote.onLost((err) => {
        if (this.failure === undefined) this.failure = err;
        // the replies will never come
        this.inflight = 0;
        this.finish();
      });
      this.settle = (err) => {
        offLost();
        if (err === undefined) resolve();
        else reject(err);
      };
      this.p.signal.addEventListener('abort', () => this.finish(), { once: true });
      if (engine.complete()) this.finish();
      else engine.kick();
    });
  }

  /** Settles the transfer when nothing is in flight and it failed, was interrupted or is done. */
  finish(): void {
    if (this.settled || this.inflight > 0 || this.busy || !this.settle) return;
    if (this.failure !== undefined) this.end(this.failure);
    else if (this.p.signal.aborted) this.end(abortError(this.p.signal));
    else if (this.engine?.complete()) this.end(undefined);
  }

  private end(err: unknown): void {
    this.settled = true;
    this.settle!(err);
  }

  fail(err: unknown): void {
    if (this.failure === undefined) this.failure = err;
    this.finish();
  }

  /**
   * Runs local I/O (reading for an upload, writing for a download), one at a time: false when
   * some is already under way. A failure is kept; then the transfer may settle.
   */
  async local(work: () => Promise<void>): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    try {
      await work();
    } catch (err) {
      if (this.failure === undefined) this.failure = err;
    } finally {
      this.busy = false;
    }
    return true;
  }
}

/** Upload: reads the local file in blocks, in order, and sends WRITE requests. */
class Sender extends Engine {
  private pos = this.p.start;
  // One block of READ_CHUNKS requests is read at a time; ssh2 copies each request into its own
  // packet, so a block is free again once its requests are issued and its hash is computed.
  private readonly blockSize: number;
  private readonly free: Buffer[] = [];
  private blocks = 0;
  private wake: (() => void) | undefined;
  private block: Buffer = Buffer.alloc(0);
  private blockLen = 0;
  private blockOff = 0;

  constructor(p: TransferParams, f: Flight, file: FileHandle, handle: Buffer) {
    super(p, f, file, handle);
    this.blockSize = Math.min(this.chunk * READ_CHUNKS, Math.max(p.size - p.start, 1));
  }

  kick(): void {
    void this.pump();
  }

  private release(b: Buffer): void {
    this.free.push(b);
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async takeBlock(): Promise<Buffer> {
    for (;;) {
      const b = this.free.pop();
      if (b) return b;
      if (this.blocks < MAX_BLOCKS) {
        this.blocks++;
        return this.buffer(this.blockSize);
      }
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  /** Reads the next block of the local file and hands it to the hash; false when stopped. */
  private async readBlock(): Promise<boolean> {
    const { p, f } = this;
    const b = await this.takeBlock();
    if (!f.going) {
      this.free.push(b);
      return false;
    }
    const want = Math.min(b.length, p.size - this.pos);
    let got = 0;
    try {
      while (got < want) {
        const { bytesRead } = await this.file.read(b, got, want - got, this.pos + got);
        if (bytesRead === 0) throw new Error('the local file shrank during the transfer');
        got += bytesRead;
      }
    } catch (err) {
      this.free.push(b);
      throw err;
    }
    if (p.hash)
      p.hash.update(b.subarray(0, want)).then(
        () => this.release(b),
        (err: unknown) => {
          this.release(b);
          f.fail(err);
        },
      );
    else this.release(b);
    this.block = b;
    this.blockLen = want;
    this.blockOff = 0;
    return f.going;
  }

  /** Sends WRITEs for the block read, while the window of requests allows. */
  private sendSome(): void {
    const { p, f } = this;
    while (this.blockOff < this.blockLen && f.inflight < f.concurrency) {
      const len = Math.min(this.chunk, this.blockLen - this.blockOff);
      const at = this.pos;
      this.pos += len;
      f.inflight++;
      p.remote.write(this.handle, this.block, this.blockOff, len, at, (err) => {
        f.inflight--;
        if (err) return f.fail(err);
        this.done += len;
        p.onProgress(this.done);
        void this.pump();
        f.finish();
      });
      this.blockOff += len;
    }
  }

  private async pump(): Promise<void> {
    const { p, f } = this;
    const ran = await f.local(async () => {
      while (f.going && this.pos < p.size && f.inflight < f.concurrency) {
        if (this.blockOff >= this.blockLen && !(await this.readBlock())) break;
        p.remote.corked(() => this.sendSome());
      }
    });
    if (ran) f.finish();
  }
}

/** Download: sends READ requests and writes what arrives to the local file, in order. */
class Receiver extends Engine {
  private next = this.p.start;
  private readonly retry: { off: number; len: number }[] = [];
  private readonly ready = new Map<number, { buf: Buffer; len: number }>();
  private readonly pool: Buffer[] = [];

  kick(): void {
    this.p.remote.corked(() => this.issueSome());
  }

  private issueSome(): void {
    const { p, f } = this;
    while (
      f.going &&
      f.inflight + this.ready.size < f.concurrency &&
      (this.retry.length > 0 || this.next < p.size)
    ) {
      const r = this.retry.shift() ?? {
        off: this.next,
        len: Math.min(this.chunk, p.size - this.next),
      };
      if (r.off === this.next) this.next += r.len;
      const buf = this.pool.pop() ?? this.buffer(this.chunk);
      f.inflight++;
      p.remote.read(this.handle, buf, 0, r.len, r.off, (err, nb) => {
        f.inflight--;
        if (err || nb === 0) {
          this.pool.push(buf);
          if (!err || sftpStatus(err) === Status.EOF)
            return f.fail(new Error('the remote file shrank during the transfer'));
          return f.fail(err);
        }
        this.ready.set(r.off, { buf, len: nb });
        if (nb < r.len) this.retry.unshift({ off: r.off + nb, len: r.len - nb });
        void this.flush();
        this.kick();
      });
    }
    f.finish();
  }

  /** Writes every piece that follows on from what is written, in one writev. */
  private async flush(): Promise<void> {
    const { p, f } = this;
    const ran = await f.local(async () => {
      while (!f.failed && this.ready.has(this.done)) {
        const pieces: Buffer[] = [];
        const views: Buffer[] = [];
        const hashing: Promise<void>[] = [];
        let at = this.done;
        let piece: { buf: Buffer; len: number } | undefined;
        while (pieces.length < MAX_WRITEV && (piece = this.ready.get(at)) !== undefined) {
          this.ready.delete(at);
          const view = piece.buf.subarray(0, piece.len);
          if (p.hash) hashing.push(p.hash.update(view));
          pieces.push(piece.buf);
          views.push(view);
          at += piece.len;
        }
        await Promise.all([writeAll(this.file, views, this.done), ...hashing]);
        this.done = at;
        for (const b of pieces) this.pool.push(b);
        p.onProgress(this.done);
        // more requests while the next pieces are written
        this.kick();
      }
    });
    if (!ran) return;
    this.kick();
    f.finish();
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

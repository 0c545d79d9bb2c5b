// sha256 of a transferred file, computed on the side while the transfer runs: large transfers feed a
// worker thread (the main thread is busy with SSH crypto and SFTP and would be the bottleneck),
// small ones hash inline. Data handed to a worker must live in a SharedArrayBuffer (sharedBuffer).
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { HashReply, HashRequest } from './hash-worker.js';

/** Transfers at least this large hash in the worker thread. */
export const WORKER_MIN_BYTES = 16 << 20;

export interface StreamHash {
  /** true when update() needs SharedArrayBuffer-backed data */
  readonly shared: boolean;
  /**
   * Feeds the first `length` bytes of a local file (a resumed transfer's prefix) and returns the
   * digest of what was fed so far. Call it before any update().
   */
  prefix(path: string, length: number, signal?: AbortSignal): Promise<string>;
  /** Feeds data in file order; resolves when `data` may be overwritten. */
  update(data: Buffer): Promise<void>;
  /** The hex digest of everything fed; the hash is finished after that. */
  digest(): Promise<string>;
  /** Forgets the hash (transfer failed). */
  dispose(): void;
}

/** A Buffer over shared memory, which a worker can read without a copy. */
export function sharedBuffer(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

/**
 * A hash for a transfer of `bytes` bytes: in a worker when it is large and a core is free for it,
 * else inline. With the server on this machine and two cores the server needs the second core
 * (measured: a 1 GiB put took 4.3 s instead of 3.9 s with the worker; again on 2026-12-02, 256 MiB,
 * alternating: get 1.27-1.31 s instead of 1.21-1.23 s, put 2.19-2.23 s instead of 1.71-2.08 s,
 * and 0.1-0.2 s more client CPU). JAILSFTP_HASH=worker|inline
 * overrides the choice.
 */
export function streamHash(bytes: number, serverIsLocal: boolean): StreamHash {
  const mode = process.env.JAILSFTP_HASH;
  const cores = availableParallelism();
  const useWorker =
    mode === 'worker' ||
    (mode !== 'inline' && bytes >= WORKER_MIN_BYTES && cores >= (serverIsLocal ? 4 : 2));
  if (useWorker) {
    try {
      return new WorkerHash(sharedWorker());
    } catch {
      // no worker threads here: hash inline
    }
  }
  return new InlineHash();
}

class InlineHash implements StreamHash {
  readonly shared = false;
  private h: Hash = createHash('sha256');

  async prefix(path: string, length: number, signal?: AbortSignal): Promise<string> {
    this.h = await hashLocalPrefix(path, length, signal);
    return this.h.copy().digest('hex');
  }
  update(data: Buffer): Promise<void> {
    this.h.update(data);
    return Promise.resolve();
  }
  digest(): Promise<string> {
    return Promise.resolve(this.h.digest('hex'));
  }
  dispose(): void {}
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** One worker thread for the whole process, kept alive only while it has work. */
class HashWorker {
  private readonly worker: Worker;
  private seq = 0;
  private nextId = 0;
  private readonly waiting = new Map<number, { ok: (v: string) => void; ko: (e: Error) => void }>();
  private broken: Error | undefined;

  constructor() {
    this.worker = new Worker(new URL('./hash-worker.js', import.meta.url));
    this.worker.unref();
    this.worker.on('message', (r: HashReply) => {
      const w = this.waiting.get(r.seq);
      if (!w) return;
      this.waiting.delete(r.seq);
      if (this.waiting.size === 0) this.worker.unref();
      if (r.error !== undefined) w.ko(new Error(r.error));
      else w.ok(r.value ?? '');
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', () => this.fail(new Error('the hash worker stopped')));
  }

  private fail(err: Error): void {
    this.broken ??= err;
    if (worker === this) worker = undefined;
    for (const w of this.waiting.values()) w.ko(err);
    this.waiting.clear();
  }

  id(): number {
    return ++this.nextId;
  }

  call(msg: DistributiveOmit<Extract<HashRequest, { seq: number }>, 'seq'>): Promise<string> {
    if (this.broken) return Promise.reject(this.broken);
    const seq = ++this.seq;
    return new Promise((ok, ko) => {
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(seq, { ok, ko });
      this.worker.postMessage({ ...msg, seq } as HashRequest);
    });
  }

  post(msg: Exclude<HashRequest, { seq: number }>): void {
    if (!this.broken) this.worker.postMessage(msg);
  }
}

let worker: HashWorker | undefined;

function sharedWorker(): HashWorker {
  worker ??= new HashWorker();
  return worker;
}

class WorkerHash implements StreamHash {
  readonly shared = true;
  private readonly id: number;

  constructor(private readonly w: HashWorker) {
    this.id = w.id();
    w.post({ op: 'init', id: this.id });
  }

  async prefix(path: string, length: number, signal?: AbortSignal): Promise<string> {
    const stop = new SharedArrayBuffer(4);
    const onAbort = (): void => {
      Atomics.store(new Int32Array(stop), 0, 1);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.w.call({ op: 'prefix', id: this.id, path, length, stop });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async update(data: Buffer): Promise<void> {
    if (!(data.buffer instanceof SharedArrayBuffer))
      throw new Error('hash data must be in shared memory');
    await this.w.call({
      op: 'update',
      id: this.id,
      sab: data.buffer as SharedArrayBuffer,
      off: data.byteOffset,
      len: data.length,
    });
  }

  digest(): Promise<string> {
    return this.w.call({ op: 'digest', id: this.id });
  }

  dispose(): void {
    this.w.post({ op: 'dispose', id: this.id });
  }
}

/**
 * A sha256 hash fed with the first `length` bytes of a local file (all of it when length is
 * undefined): the caller may go on updating it with what follows (resumed transfers).
 */
export function hashLocalPrefix(
  path: string,
  length?: number,
  signal?: AbortSignal,
): Promise<Hash> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    if (length === 0) return resolve(h);
    const s = createReadStream(path, {
      start: 0,
      end: length === undefined ? undefined : length - 1,
      highWaterMark: 4 << 20,
      signal,
    });
    let got = 0;
    s.on('data', (d) => {
      got += (d as Buffer).length;
      h.update(d as Buffer);
    });
    s.on('error', reject);
    s.on('end', () =>
      length === undefined || got === length
        ? resolve(h)
        : reject(new Error(`${path}: shorter than ${length} bytes`)),
    );
  });
}

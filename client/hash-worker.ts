// The hash worker thread (started by hasher.ts): sha256 of transfers fed from shared memory, one
// hash per id; every reply carries the seq of its request.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

/** A request from the main thread. */
export type HashRequest =
  | { op: 'init'; id: number }
  | { op: 'update'; id: number; seq: number; sab: SharedArrayBuffer; off: number; len: number }
  | {
      op: 'prefix';
      id: number;
      seq: number;
      path: string;
      length: number;
      /** an Int32 set to non-zero to stop reading (the transfer was interrupted) */
      stop: SharedArrayBuffer;
    }
  | { op: 'digest'; id: number; seq: number }
  | { op: 'dispose'; id: number };

/** The answer to a request that has a seq. */
export interface HashReply {
  seq: number;
  value?: string;
  error?: string;
}

const hashes = new Map<number, Hash>();

function hashOf(id: number): Hash {
  const h = hashes.get(id);
  if (!h) throw new Error(`no hash ${id}`);
  return h;
}

/** Feeds the first `length` bytes of a file; returns the digest so far. */
function prefix(h: Hash, path: string, length: number, stop: Int32Array): string {
  const buf = Buffer.allocUnsafe(4 << 20);
  const fd = openSync(path, 'r');
  try {
    let pos = 0;
    while (pos < length) {
      if (Atomics.load(stop, 0) !== 0) throw new Error('interrupted');
      const n = readSync(fd, buf, 0, Math.min(buf.length, length - pos), pos);
      if (n === 0) throw new Error(`${path}: shorter than ${length} bytes`);
      h.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  return h.copy().digest('hex');
}

function handle(m: HashRequest): HashReply | undefined {
  switch (m.op) {
    case 'init':
      hashes.set(m.id, createHash('sha256'));
      return undefined;
    case 'update':
      hashOf(m.id).update(new Uint8Array(m.sab, m.off, m.len));
      return { seq: m.seq };
    case 'prefix':
      return { seq: m.seq, value: prefix(hashOf(m.id), m.path, m.length, new Int32Array(m.stop)) };
    case 'digest': {
      const h = hashOf(m.id);
      hashes.delete(m.id);
      return { seq: m.seq, value: h.digest('hex') };
    }
    case 'dispose':
      hashes.delete(m.id);
      return undefined;
  }
}

const port = parentPort;
port?.on('message', (m: HashRequest) => {
  try {
    const reply = handle(m);
    if (reply) port.postMessage(reply);
  } catch (err) {
    if ('seq' in m) port.postMessage({ seq: m.seq, error: (err as Error).message ?? String(err) });
  }
});

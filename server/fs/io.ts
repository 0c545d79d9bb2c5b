// Data reads and writes of open files.
//
// A home on a local filesystem (Jail.io 'sync'): operations up to SYNC_MAX run synchronously, as a
// pool round trip costs more than a read served from the page cache; if one takes longer than
// SLOW_MS (a cold read, dirty-page throttling, a full or slow disk), everything goes through the
// thread pool for the next second, so that a slow disk never stalls the event loop for long.
//
// A home on a network filesystem (Jail.io 'pool'): any call may hang, and a synchronous call that
// hangs stalls every user, so every read and write runs in the pool through the home's gate. To keep the round trips few, calls that wait for the gate are combined: a read (or write) of a
// descriptor that begins where one still waiting ends joins it, and the two go to the disk as one
// preadv (pwritev). A client streams a file as many pipelined requests of 32 KiB at consecutive
// offsets, so under load one round trip serves up to MAX_JOINED of them; when the home's calls
// do not queue, each runs at once, alone, as before.
import { read, readSync, write, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Jail } from './jail.js';

const readP = promisify(read);
const writeP = promisify(write);

const SYNC_MAX = 64 * 1024;
const SLOW_MS = 2;
const ASYNC_FOR_MS = 1000;

let asyncUntil = 0;

function timed<T>(fn: () => T): T {
  const t0 = performance.now();
  try {
    return fn();
  } finally {
    const t1 = performance.now();
    if (t1 - t0 > SLOW_MS) asyncUntil = t1 + ASYNC_FOR_MS;
  }
}

function syncNow(len: number): boolean {
  return len <= SYNC_MAX && performance.now() >= asyncUntil;
}

/** most requests and bytes one combined call carries */
const MAX_JOINED = 64;
const MAX_BYTES = 2 * 1024 * 1024;

interface Part {
  buf: Buffer;
  resolve: (n: number) => void;
  reject: (e: unknown) => void;
}

/** A call still waiting for the gate, which later requests may join. */
interface Batch {
  pos: number;
  end: number;
  parts: Part[];
}

/** per descriptor and direction ("r"/"w" + fd): the batch that waits, if any */
const waiting = new Map<string, Batch>();

function submit(jail: Jail, write: boolean, fd: number, buf: Buffer, pos: number): Promise<number> {
  const key = (write ? 'w' : 'r') + fd;
  const b = waiting.get(key);
  if (b && b.end === pos && b.parts.length < MAX_JOINED && b.end - b.pos + buf.length <= MAX_BYTES)
    return new Promise<number>((resolve, reject) => {
      b.parts.push({ buf, resolve, reject });
      b.end += buf.length;
    });
  const batch: Batch = { pos, end: pos + buf.length, parts: [] };
  const first = new Promise<number>((resolve, reject) =>
    batch.parts.push({ buf, resolve, reject }),
  );
  waiting.set(key, batch);
  jail
    .run((sys) => {
      // it starts: nothing joins it any more
      if (waiting.get(key) === batch) waiting.delete(key);
      const bufs = batch.parts.map((p) => p.buf);
      if (bufs.length === 1)
        return write
          ? sys.write(fd, bufs[0]!, 0, bufs[0]!.length, pos)
          : sys.read(fd, bufs[0]!, 0, bufs[0]!.length, pos);
      return write ? sys.writev(fd, bufs, pos) : sys.readv(fd, bufs, pos);
    })
    .then(
      (n) => {
        // each part gets the bytes that fell in its range (a short read at the end of the file,
        // a short write: the caller goes on from there)
        let at = 0;
        for (const p of batch.parts) {
          p.resolve(Math.max(0, Math.min(p.buf.length, n - at)));
          at += p.buf.length;
        }
      },
      (e: unknown) => {
        if (waiting.get(key) === batch) waiting.delete(key); // failed before it started
        for (const p of batch.parts) p.reject(e);
      },
    );
  return first;
}

export function pread(
  jail: Jail,
  fd: number,
  into: Buffer,
  at: number,
  len: number,
  pos: number,
): Promise<number> {
  if (jail.io === 'pool') return submit(jail, false, fd, into.subarray(at, at + len), pos);
  if (syncNow(len)) {
    try {
      return Promise.resolve(timed(() => readSync(fd, into, at, len, pos)));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }
  return readP(fd, into, at, len, pos).then((r) => r.bytesRead);
}

/** Writes all of data at pos. */
export async function pwriteAll(jail: Jail, fd: number, data: Buffer, pos: number): Promise<void> {
  let done = 0;
  if (jail.io === 'pool') {
    while (done < data.length)
      done += await submit(jail, true, fd, data.subarray(done), pos + done);
    return;
  }
  while (done < data.length) {
    const n = data.length - done;
    const at = done;
    done += syncNow(n)
      ? timed(() => writeSync(fd, data, at, n, pos + at))
      : (await writeP(fd, data, at, n, pos + at)).bytesWritten;
  }
}

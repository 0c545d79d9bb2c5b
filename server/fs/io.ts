// Data reads and writes: synchronous while the disk answers fast, asynchronous when it does not.
//
// Handing a small read or write to libuv's thread pool costs more than the operation itself when
// the page cache serves it (queueing, a thread wake-up, the completion callback), and adds latency
// to every small file. So operations up to SYNC_MAX run synchronously. If one takes longer than
// SLOW_MS (a cold read, dirty-page throttling, a full or slow disk), everything goes through the
// thread pool for the next second, so that a slow disk never stalls the event loop, and with it
// every other user, for long.
import { read, readSync, write, writeSync } from 'node:fs';
import { promisify } from 'node:util';

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

function sync(len: number): boolean {
  return len <= SYNC_MAX && performance.now() >= asyncUntil;
}

export async function pread(
  fd: number,
  into: Buffer,
  at: number,
  len: number,
  pos: number,
): Promise<number> {
  if (sync(len)) return timed(() => readSync(fd, into, at, len, pos));
  return (await readP(fd, into, at, len, pos)).bytesRead;
}

/** Writes all of data at pos. */
export async function pwriteAll(fd: number, data: Buffer, pos: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const n = data.length - done;
    const at = done;
    done += sync(n)
      ? timed(() => writeSync(fd, data, at, n, pos + at))
      : (await writeP(fd, data, at, n, pos + at)).bytesWritten;
  }
}

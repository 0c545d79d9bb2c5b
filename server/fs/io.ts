// Data reads and writes of open files, in the thread pool through the home's gate (gate.ts).
//
// They used to run synchronously while the disk answered fast (a pool round trip costs more than a
// read served from the page cache), but on a network filesystem any one of them may hang, and a
// synchronous call that hangs stalls every user: no call on a home's data waits on the event loop.
//
// To keep the round trips few, calls that wait for the gate are combined: a read (or write) of a
// descriptor that begins where one still waiting ends joins it, and the two go to the disk as one
// preadv (pwritev). A client streams a file as many pipelined requests of 32 KiB at consecutive
// offsets, so under load one round trip serves up to MAX_JOINED of them; when the home's calls
// do not queue, each runs at once, alone, as before.
import type { Jail } from './jail.js';
import * as sys from './sys.js';

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
    .run(() => {
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
  return submit(jail, false, fd, into.subarray(at, at + len), pos);
}

/** Writes all of data at pos. */
export async function pwriteAll(jail: Jail, fd: number, data: Buffer, pos: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    done += await submit(jail, true, fd, data.subarray(done), pos + done);
  }
}

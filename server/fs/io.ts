// Data reads and writes of open files, in the thread pool through the home's gate (gate.ts).
//
// They used to run synchronously while the disk answered fast (a pool round trip costs more than a
// read served from the page cache), but on a network filesystem any one of them may hang, and a
// synchronous call that hangs stalls every user: no call on a home's data waits on the event loop.
import type { Jail } from './jail.js';
import * as sys from './sys.js';

export function pread(
  jail: Jail,
  fd: number,
  into: Buffer,
  at: number,
  len: number,
  pos: number,
): Promise<number> {
  return jail.run(() => sys.read(fd, into, at, len, pos));
}

/** Writes all of data at pos. */
export async function pwriteAll(jail: Jail, fd: number, data: Buffer, pos: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const at = done;
    done += await jail.run(() => sys.write(fd, data, at, data.length - at, pos + at));
  }
}

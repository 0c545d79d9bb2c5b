// How many bytes a home holds: the sum of the apparent sizes of its regular files (symlinks are not
// followed), the quota ledger's starting point at a user's first login and `user list`'s "used".
//
// A home on a local filesystem (home-io.ts) is scanned with synchronous calls, several times cheaper
// than their async forms here, yielding to the event loop every SLICE entries so that a huge home
// does not stall other sessions. On a network filesystem every call runs in the thread pool
// through the home's gate (gate.ts), and the scan as a whole is bounded: when no call has answered for STALL_MS (the home's filesystem hangs), the scan fails
// with "filesystem not responding", and so does the login that waits for it, instead of waiting
// as long as the filesystem does. A huge but healthy home keeps answering and is scanned to the end.
import { constants, lstatSync, opendirSync, type Dir } from 'node:fs';
import { join } from 'node:path';
import { errorCode, FsNotRespondingError } from './errors.js';
import { closeIn, runIn } from './gate.js';
import { homeIo } from './home-io.js';
import { lstatBatch } from './lstat-worker.js';
import { pool as sys } from './sys.js';

/** how long the scan waits without any call answering */
export const STALL_MS = 10_000;
/** files whose sizes are asked for at once (one job) */
const BATCH = 256;

/** Sum of the apparent sizes of the regular files under `home` (its path as configured). */
export async function scanUsage(home: string): Promise<number> {
  return (await homeIo(home)) === 'sync' ? scanLocal(home) : scanPooled(home);
}

async function scanLocal(dir: string): Promise<number> {
  const SLICE = 2000;
  let total = 0;
  let work = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    let it: Dir;
    try {
      it = opendirSync(d, { bufferSize: 256 });
    } catch {
      continue;
    }
    try {
      for (let e = it.readSync(); e; e = it.readSync()) {
        // not path.join (~2 µs an entry): a name from readdir has no "/" and is never "." or ".."
        const p = `${d}/${e.name}`;
        if (e.isDirectory()) stack.push(p);
        else if (e.isFile()) {
          try {
            total += lstatSync(p).size;
          } catch {
            /* vanished meanwhile */
          }
        }
        if (++work % SLICE === 0) await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      it.closeSync();
    }
  }
  return total;
}

async function scanPooled(home: string): Promise<number> {
  let last = performance.now();
  let stalled: () => void = () => undefined;
  const stall = new Promise<never>((_, reject) => {
    stalled = () => reject(new FsNotRespondingError());
  });
  stall.catch(() => undefined);
  const watch = setInterval(() => {
    if (performance.now() - last >= STALL_MS) stalled();
  }, 250);
  /** one call through the gate, given up (not cancelled) when the scan stalls */
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    const v = await Promise.race([runIn(home, fn), stall]);
    last = performance.now();
    return v;
  };
  try {
    let total = 0;
    const stack = [home];
    while (stack.length) {
      const d = stack.pop()!;
      let it: Dir;
      try {
        it = await call(() => sys.opendir(d, 256));
      } catch (e) {
        if (errorCode(e) === 'ENOTRESPONDING') throw e;
        continue; // vanished, or not readable
      }
      try {
        let eof = false;
        while (!eof) {
          const files: string[] = [];
          while (files.length < BATCH) {
            const e = await call(() => it.read());
            if (!e) {
              eof = true;
              break;
            }
            const p = join(d, e.name);
            if (e.isDirectory()) stack.push(p);
            else if (e.isFile()) files.push(p); // or of a type not reported (sys.opendir)
          }
          // the batch's lstats as one job on a worker thread (lstat-worker.ts)
          const stats = await call(() => lstatBatch(files));
          stats.forEach((st, i) => {
            if (!st) return; // vanished meanwhile
            const type = st.mode & constants.S_IFMT;
            if (type === constants.S_IFDIR) stack.push(files[i]!);
            else if (type === constants.S_IFREG) total += st.size;
          });
        }
      } finally {
        // after a stall, the close waits (in the background) for the read still in flight
        void closeIn(home, () => it.close()).catch(() => undefined);
      }
    }
    return total;
  } finally {
    clearInterval(watch);
  }
}

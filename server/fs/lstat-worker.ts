// lstat of many names as one job, for listings of homes on a network filesystem (home-io.ts).
//
// In the pool, each lstat of a listing would be its own round trip through libuv's queue and a
// thread wake-up, which costs more than the call when the filesystem's attribute cache answers.
// Here a batch of names goes to a worker thread, which lstats them one after the other and answers
// once. The caller runs the job through the home's gate (one slot of it, like one pool call): a
// worker stuck on a hung filesystem holds that slot, as a stuck pool call would, and further batches
// take other workers (at most the gate's TOTAL are ever busy). Idle workers end after IDLE_MS.
import { lstatSync } from 'node:fs';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import type { FileStats } from './storage.js';

/** numbers per entry: size uid gid mode nlink atimeMs mtimeMs (NaN size: no such entry) */
const N = 7;
const IDLE_MS = 30_000;

interface Job {
  id: number;
  paths: string[];
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  port.on('message', (job: Job) => {
    const out = new Float64Array(job.paths.length * N);
    job.paths.forEach((p, i) => {
      const o = i * N;
      try {
        const s = lstatSync(p);
        out.set([s.size, s.uid, s.gid, s.mode, s.nlink, s.atimeMs, s.mtimeMs], o);
      } catch {
        out[o] = NaN; // vanished between readdir and lstat
      }
    });
    port.postMessage({ id: job.id, stats: out }, [out.buffer]);
  });
}

interface Idle {
  w: Worker;
  timer: NodeJS.Timeout;
}

const idle: Idle[] = [];
let nextId = 0;

function take(): Worker {
  const i = idle.pop();
  if (i) {
    clearTimeout(i.timer);
    return i.w;
  }
  const w = new Worker(new URL(import.meta.url));
  w.unref();
  return w;
}

function giveBack(w: Worker): void {
  const timer = setTimeout(() => {
    const at = idle.findIndex((i) => i.w === w);
    if (at >= 0) idle.splice(at, 1);
    void w.terminate();
  }, IDLE_MS);
  timer.unref();
  idle.push({ w, timer });
}

/** The lstat of each path, in one job on a worker thread (undefined: no such entry). */
export function lstatBatch(paths: string[]): Promise<(FileStats | undefined)[]> {
  if (paths.length === 0) return Promise.resolve([]);
  const w = take();
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const done = (): void => {
      w.off('message', onMessage);
      w.off('error', onError);
    };
    const onMessage = (m: { id: number; stats: Float64Array }): void => {
      if (m.id !== id) return;
      done();
      giveBack(w);
      const s = m.stats;
      resolve(
        paths.map((_, i) => {
          const o = i * N;
          if (Number.isNaN(s[o])) return undefined;
          return {
            size: s[o]!,
            uid: s[o + 1]!,
            gid: s[o + 2]!,
            mode: s[o + 3]!,
            nlink: s[o + 4]!,
            atimeMs: s[o + 5]!,
            mtimeMs: s[o + 6]!,
          };
        }),
      );
    };
    const onError = (e: Error): void => {
      done();
      reject(e);
    };
    w.on('message', onMessage);
    w.on('error', onError);
    w.postMessage({ id, paths } satisfies Job);
  });
}

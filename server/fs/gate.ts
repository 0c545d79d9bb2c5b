// Where the filesystem calls of a home in pool mode (home-io.ts: a network or FUSE filesystem) run:
// off the event loop (libuv's thread pool, or a worker for a listing's lstats), at most PER_HOME at
// once for one home and at most TOTAL in all.
//
// Homes may live on a network filesystem (NFS, CephFS). A call into a directory whose server hangs
// does not return, and no call can be cancelled: on the event loop it would stall every user; in
// the pool it holds a thread until the filesystem answers. So a hung home can hold at most PER_HOME
// threads; its further calls wait in its own queue, in order, and a call that waited QUEUE_MS
// without starting fails with "filesystem not responding" (it never ran, so nothing changed).
// TOTAL leaves RESERVED threads of the pool to everything else (argon2 password checks, crypto),
// so logins go on even while many homes hang. Other homes' calls find a free thread at once.
//
// Wrap single system calls only (never a function that itself runs calls through the gate: it
// would wait for a slot it holds).
import { POOL_SIZE } from '../threadpool.js';
import { FsNotRespondingError } from './errors.js';

/** calls of one home that may run at once (4 with a pool of 16: enough for full-speed transfers) */
export const PER_HOME = Math.max(1, Math.min(4, Math.floor(POOL_SIZE / 4)));
/** how long a call may wait for a slot of its home before it fails */
export const QUEUE_MS = 10_000;
/** pool threads that filesystem calls of homes never take */
const RESERVED = Math.min(4, Math.ceil(POOL_SIZE / 4));
/** filesystem calls of all homes that may run at once */
export const TOTAL = Math.max(PER_HOME, POOL_SIZE - RESERVED);

interface Waiter {
  start: () => void;
  fail: (e: Error) => void;
  since: number;
}

let running = 0;
const gates = new Map<string, HomeGate>();
/** homes with waiting calls that their own limit would admit: they wait for TOTAL */
const starved = new Set<HomeGate>();

class HomeGate {
  running = 0;
  readonly queue: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly key: string) {}

  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.queue.length === 0 && this.running < PER_HOME && running < TOTAL) return this.call(fn);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        start: () => this.call(fn).then(resolve, reject),
        fail: reject,
        since: performance.now(),
      });
      if (this.running < PER_HOME) starved.add(this);
      this.timer ??= setTimeout(() => this.expire(), QUEUE_MS);
    });
  }

  private call<T>(fn: () => Promise<T>): Promise<T> {
    this.running++;
    running++;
    let p: Promise<T>;
    try {
      p = fn();
    } catch (e) {
      p = Promise.reject(e as Error);
    }
    return p.finally(() => this.done());
  }

  private done(): void {
    this.running--;
    running--;
    this.admit();
    if (this.queue.length === 0 && this.running === 0 && gates.get(this.key) === this)
      gates.delete(this.key);
    // a slot of TOTAL came free: homes held back by it go on
    for (const g of starved) {
      if (running >= TOTAL) break;
      g.admit();
    }
  }

  /** Starts waiting calls while both limits allow. */
  admit(): void {
    while (this.queue.length && this.running < PER_HOME && running < TOTAL)
      this.queue.shift()!.start();
    if (this.queue.length === 0 || this.running >= PER_HOME) starved.delete(this);
    else starved.add(this);
    if (this.queue.length === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** Fails the calls that waited QUEUE_MS; runs again for the next one to expire. */
  private expire(): void {
    this.timer = undefined;
    const now = performance.now();
    while (this.queue.length && now - this.queue[0]!.since >= QUEUE_MS)
      this.queue.shift()!.fail(new FsNotRespondingError());
    if (this.queue.length === 0) {
      starved.delete(this);
      if (this.running === 0 && gates.get(this.key) === this) gates.delete(this.key);
    } else this.timer = setTimeout(() => this.expire(), QUEUE_MS - (now - this.queue[0]!.since));
  }
}

/**
 * Runs one filesystem call of the home `key` (its path as configured) within the limits above.
 * Rejects with FsNotRespondingError when it could not start within QUEUE_MS.
 */
export function runIn<T>(key: string, fn: () => Promise<T>): Promise<T> {
  let g = gates.get(key);
  if (!g) gates.set(key, (g = new HomeGate(key)));
  return g.run(fn);
}

/**
 * Runs a close of the home `key` through its gate. One that cannot start in time is retried in the
 * background, and this resolves at once: a descriptor must not leak because its filesystem hung.
 */
export async function closeIn(key: string, fn: () => Promise<void>): Promise<void> {
  const again = (): void => {
    runIn(key, fn).catch((e: unknown) => {
      if (e instanceof FsNotRespondingError) again();
    });
  };
  try {
    await runIn(key, fn);
  } catch (e) {
    if (!(e instanceof FsNotRespondingError)) throw e;
    again();
  }
}

/** Calls running now, and waiting, in all homes (tests and metrics). */
export function gateLoad(): { running: number; waiting: number } {
  let waiting = 0;
  for (const g of gates.values()) waiting += g.queue.length;
  return { running, waiting };
}

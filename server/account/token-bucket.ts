// A token bucket for one user and one direction (upload or download): `take(n)` lets n bytes pass
// when the bucket holds them and makes the caller wait otherwise. It never
// buffers data: a waiting caller holds its request, so the SFTP engine's bounded queue of pending
// requests fills and SSH flow control stops the client (backpressure, see throttled-storage.ts).
//
// The bucket fills at `rate` bytes per second up to `burst`: a quarter of a second of the rate, and
// at least one largest SFTP packet (256 KiB), so that a single request can always pass. A request
// larger than the burst passes when the bucket is full and leaves it in debt, so the long-run rate
// stays exact whatever the request sizes. Rate 0 is unlimited.
//
// Waiting callers are served fairly by owner (a connection): start-time fair queuing, so that a
// client with 64 requests waiting gets no more bytes than one with a single request waiting;
// within one owner, first come first served. The rate can change at any time:
// waiting callers then go at the new rate (all at once when it becomes unlimited).
import { performance } from 'node:perf_hooks';

/** the largest SFTP packet (limits@openssh.com): one request always fits in the burst */
export const MAX_PACKET = 256 * 1024;
/** seconds of the rate the bucket can hold */
const BURST_SECONDS = 0.25;

interface Waiter {
  n: number;
  /** virtual start time: bytes served before it under fair sharing */
  start: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class TokenBucket {
  private rateBps = 0;
  private tokens = 0;
  private last: number;
  /** the waiting callers of each owner, and the virtual time its last one finishes */
  private readonly flows = new Map<unknown, { queue: Waiter[]; finish: number }>();
  private count = 0;
  private vtime = 0;
  private timer: NodeJS.Timeout | undefined;

  /** `now`: a clock in milliseconds (tests may pass their own) */
  constructor(
    rate: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.last = now();
    this.setRate(rate);
  }

  /** bytes per second; 0 = unlimited */
  get rate(): number {
    return this.rateBps;
  }

  /** the most the bucket holds */
  get burst(): number {
    return Math.max(this.rateBps * BURST_SECONDS, MAX_PACKET);
  }

  /** callers waiting now (bounded by the sessions' own bounds on pending requests) */
  get waiting(): number {
    return this.count;
  }

  /**
   * Takes n tokens. Returns undefined when they pass at once (unlimited, or available with nobody
   * waiting before), else a promise resolved in arrival order when they pass, or rejected by
   * cancel(owner).
   */
  take(n: number, owner?: unknown): Promise<void> | undefined {
    if (this.rateBps === 0 || n <= 0) return undefined;
    this.refill();
    if (this.count === 0 && this.tokens >= Math.min(n, this.burst)) {
      this.tokens -= n;
      return undefined;
    }
    let f = this.flows.get(owner);
    if (!f) this.flows.set(owner, (f = { queue: [], finish: 0 }));
    const start = Math.max(this.vtime, f.finish);
    f.finish = start + n;
    const flow = f;
    return new Promise<void>((resolve, reject) => {
      flow.queue.push({ n, start, resolve, reject });
      this.count++;
      this.schedule();
    });
  }

  /** A new rate (0 = unlimited), for the waiting callers too. */
  setRate(rate: number): void {
    if (!Number.isFinite(rate) || rate < 0) throw new Error(`invalid rate ${rate}`);
    if (rate === this.rateBps) return;
    const was = this.rateBps;
    this.refill();
    this.rateBps = rate;
    // from unlimited: start full; to a lower rate: keep no more than the new burst holds
    this.tokens = was === 0 ? this.burst : Math.min(this.tokens, this.burst);
    this.clearTimer();
    this.pump();
  }

  /** Rejects the waiting calls of one owner (its connection is gone); the others keep their turn. */
  cancel(owner: unknown, error: Error): void {
    const f = this.flows.get(owner);
    if (!f) return;
    this.flows.delete(owner);
    this.count -= f.queue.length;
    for (const w of f.queue) w.reject(error);
    this.clearTimer();
    this.pump();
  }

  private refill(): void {
    const t = this.now();
    if (this.rateBps > 0)
      this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rateBps) / 1000);
    this.last = t;
  }

  /** The flow whose first waiting caller has the earliest virtual start (ties: the older flow). */
  private next(): Waiter[] | undefined {
    let best: Waiter[] | undefined;
    for (const { queue } of this.flows.values())
      if (queue.length > 0 && (!best || queue[0]!.start < best[0]!.start)) best = queue;
    return best;
  }

  /** Lets the waiting callers pass, fairly, while tokens last; then waits for the next one's. */
  private pump(): void {
    this.refill();
    for (let q = this.next(); q; q = this.next()) {
      const head = q[0]!;
      if (this.rateBps !== 0) {
        if (this.tokens < Math.min(head.n, this.burst)) break;
        this.tokens -= head.n;
      }
      q.shift();
      this.count--;
      this.vtime = head.start;
      head.resolve();
    }
    if (this.count === 0) {
      this.flows.clear();
      this.vtime = 0;
    }
    this.schedule();
  }

  private schedule(): void {
    const q = this.next();
    if (this.timer || !q || this.rateBps === 0) return;
    const need = Math.min(q[0]!.n, this.burst) - this.tokens;
    const ms = Math.max(1, Math.ceil((need * 1000) / this.rateBps));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, ms);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

// Login defence: failed logins slow down, then lock out, one (address, user) pair; an address as a
// whole is only slowed, at a much higher failure count, so that one attacker behind a shared
// gateway does not lock out everyone else there. The interface is asynchronous so that a cluster
// keeps the counts in its shared store (server/store/pg-defence.ts) and a round-robin balancer does
// not multiply an attacker's tries by the number of nodes; `MemoryDefence` is one node's memory.

export const WINDOW_MS = 15 * 60 * 1000;
export const PAIR_FREE = 3; // failures before any delay
export const PAIR_LOCK = 20; // failures within the window that lock the pair
export const ADDR_FREE = 50;
export const MAX_DELAY_MS = 8000;

export interface LoginDefence {
  /** True while this pair is locked out: answer "failure" without checking anything. */
  locked(addr: string, user: string): Promise<boolean>;
  /** Counts a failure; milliseconds to wait before answering it. */
  failure(addr: string, user: string): Promise<number>;
  /** A correct login: the pair starts afresh (the address's count stays). */
  success(addr: string, user: string): Promise<void>;
}

/** The delay after a failure, from the pair's and the address's failures in their windows. */
export function failureDelay(pairFailures: number, addrFailures: number): number {
  const p = pairFailures;
  const a = addrFailures;
  const pairDelay = p > PAIR_FREE ? 250 * 2 ** Math.min(p - PAIR_FREE - 1, 10) : 0;
  const addrDelay = a > ADDR_FREE ? 20 * (a - ADDR_FREE) : 0;
  return Math.min(MAX_DELAY_MS, pairDelay + addrDelay);
}

interface Count {
  n: number;
  since: number;
}

/** One node's counts, in memory (the file store; a restart forgets them). */
export class MemoryDefence implements LoginDefence {
  private pairs = new Map<string, Count>();
  private addrs = new Map<string, Count>();
  private lastSweep: number;

  constructor(private readonly now: () => number = Date.now) {
    this.lastSweep = now();
  }

  private get(m: Map<string, Count>, k: string): Count {
    const t = this.now();
    let c = m.get(k);
    if (!c || t - c.since > WINDOW_MS) {
      c = { n: 0, since: t };
      m.set(k, c);
    }
    return c;
  }

  async locked(addr: string, user: string): Promise<boolean> {
    // a look only: asking does not make an entry
    const c = this.pairs.get(`${addr}\0${user}`);
    return c !== undefined && this.now() - c.since <= WINDOW_MS && c.n >= PAIR_LOCK;
  }

  async failure(addr: string, user: string): Promise<number> {
    this.sweep();
    const p = this.get(this.pairs, `${addr}\0${user}`);
    const a = this.get(this.addrs, addr);
    p.n++;
    a.n++;
    return failureDelay(p.n, a.n);
  }

  async success(addr: string, user: string): Promise<void> {
    this.pairs.delete(`${addr}\0${user}`);
  }

  /** Drops counts whose window has passed, at most once a minute (no timer to stop). */
  private sweep(): void {
    const t = this.now();
    if (t - this.lastSweep < 60_000) return;
    this.lastSweep = t;
    for (const m of [this.pairs, this.addrs])
      for (const [k, c] of m) if (t - c.since > WINDOW_MS) m.delete(k);
  }
}

// Login defence: failed logins slow down, then lock out, one (address, user) pair; an address as a
// whole is only slowed, at a much higher failure count, so that one attacker behind a shared
// gateway does not lock out everyone else there.

const WINDOW_MS = 15 * 60 * 1000;
const PAIR_FREE = 3; // failures before any delay
const PAIR_LOCK = 20; // failures within the window that lock the pair
const ADDR_FREE = 50;
const MAX_DELAY_MS = 8000;

interface Count {
  n: number;
  since: number;
}

export class LoginDefence {
  private pairs = new Map<string, Count>();
  private addrs = new Map<string, Count>();

  constructor(private readonly now: () => number = Date.now) {
    setInterval(() => this.sweep(), 60_000).unref();
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

  /** True while this pair is locked out: answer "failure" without checking anything. */
  locked(addr: string, user: string): boolean {
    return this.get(this.pairs, `${addr}\0${user}`).n >= PAIR_LOCK;
  }

  /** Milliseconds to wait before answering a failure. */
  failure(addr: string, user: string): number {
    const p = this.get(this.pairs, `${addr}\0${user}`);
    const a = this.get(this.addrs, addr);
    p.n++;
    a.n++;
    const pairDelay = p.n > PAIR_FREE ? 250 * 2 ** Math.min(p.n - PAIR_FREE - 1, 10) : 0;
    const addrDelay = a.n > ADDR_FREE ? 20 * (a.n - ADDR_FREE) : 0;
    return Math.min(MAX_DELAY_MS, pairDelay + addrDelay);
  }

  success(addr: string, user: string): void {
    this.pairs.delete(`${addr}\0${user}`);
  }

  private sweep(): void {
    const t = this.now();
    for (const m of [this.pairs, this.addrs])
      for (const [k, c] of m) if (t - c.since > WINDOW_MS) m.delete(k);
  }
}

// TOTP replay memory: each time step of a user's codes is accepted at most once, and never one
// older than the newest accepted. One node's memory for the file store (a restart forgets it: a
// code seen just before a restart could be used again within its 90 s window); in a cluster the
// steps are shared (server/store/pg-totp.ts), so that a code used on one node is refused on all.

export interface TotpSteps {
  /** Accepts the step for the user (true) unless it, or a newer one, was accepted before. */
  take(user: string, step: number): Promise<boolean>;
}

/** The last accepted step per user, in memory. */
export class MemoryTotpSteps implements TotpSteps {
  private readonly last = new Map<string, number>();

  async take(user: string, step: number): Promise<boolean> {
    const prev = this.last.get(user);
    if (prev !== undefined && step <= prev) return false;
    this.last.set(user, step);
    // entries older than the window guard nothing: keep the map small
    if (this.last.size > 10000)
      for (const [u, s] of this.last) if (s < step - 2) this.last.delete(u);
    return true;
  }
}

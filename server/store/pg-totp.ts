// TOTP replay memory in PostgreSQL (cluster mode): each accepted step is a row of
// jailsftp_totp_used, so that a code accepted on one node is refused as replayed on every other.
// A step is accepted iff its row is inserted, and (as in one node's memory) only when no newer step
// of the user was accepted before. Rows older than any code's validity are swept.
import type pg from 'pg';
import type { TotpSteps } from '../account/totp-steps.js';

/** Kept well past a code's 90 s validity (±1 step of 30 s), so that clock skew cannot reopen one. */
const KEEP_MS = 10 * 60 * 1000;
const SWEEP_EVERY_MS = 60_000;

export class PgTotpSteps implements TotpSteps {
  private lastSweep = 0;

  constructor(private readonly pool: pg.Pool) {}

  async take(user: string, step: number): Promise<boolean> {
    this.maybeSweep();
    // the primary key makes the same step win once, whatever the number of nodes
    const r = await this.pool.query(
      `INSERT INTO jailsftp_totp_used (username, step)
       SELECT $1, $2::bigint
       WHERE NOT EXISTS (SELECT 1 FROM jailsftp_totp_used WHERE username = $1 AND step >= $2::bigint)
       ON CONFLICT DO NOTHING`,
      [user, step],
    );
    return r.rowCount === 1;
  }

  /** Deletes steps too old to matter; how many. */
  async sweep(): Promise<number> {
    const r = await this.pool.query(
      `DELETE FROM jailsftp_totp_used WHERE used_at < now() - $1::bigint * interval '1 millisecond'`,
      [KEEP_MS],
    );
    return r.rowCount ?? 0;
  }

  private maybeSweep(): void {
    const t = Date.now();
    if (t - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = t;
    this.sweep().catch(() => undefined); // the next one retries
  }
}

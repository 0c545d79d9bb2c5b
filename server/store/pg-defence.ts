// The login defence in PostgreSQL (cluster mode): the same counts and numbers as one node's memory
// (server/account/defence.ts), kept in jailsftp_defence so that every node sees every failure and a
// round-robin balancer does not multiply an attacker's tries. One upsert per failure counts the
// pair and the address at once and returns both counts; windows run on the database's clock.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { failureDelay, PAIR_LOCK, WINDOW_MS, type LoginDefence } from '../account/defence.js';

/** A user name as it may appear in a key: plain names as they are, others (any bytes a client
 *  sends: NUL, control characters, megabytes) as a hash, which no plain name can equal. */
function keyName(user: string): string {
  return /^[A-Za-z0-9._@+-]{1,128}$/.test(user)
    ? user
    : `#${createHash('sha256').update(user).digest('hex')}`;
}

/** jailsftp_defence keys: one per (address, user) pair, one per address. */
export function pairKey(addr: string, user: string): string {
  return `pair ${addr} ${keyName(user)}`;
}
export function addrKey(addr: string): string {
  return `addr ${addr}`;
}

// $3: the window in ms, $4: failures that lock a pair. A row whose window has passed starts again
// at 1; a pair row at the lock count is locked until the end of its window.
const FAILURE = `
  WITH w AS (SELECT now() - $3::bigint * interval '1 millisecond' AS start)
  INSERT INTO jailsftp_defence AS d (key, failures, first_failure, locked_until)
  VALUES ($1, 1, now(), NULL), ($2, 1, now(), NULL)
  ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN d.first_failure < (SELECT start FROM w) THEN 1 ELSE d.failures + 1 END,
    first_failure = CASE WHEN d.first_failure < (SELECT start FROM w) THEN now()
                    ELSE d.first_failure END,
    locked_until = CASE
      WHEN d.key LIKE 'pair %' AND d.first_failure >= (SELECT start FROM w)
        AND d.failures + 1 >= $4::int
      THEN d.first_failure + $3::bigint * interval '1 millisecond'
    END
  RETURNING key, failures`;

/** How often, at most, a node deletes the rows whose window has passed. */
const SWEEP_EVERY_MS = 60_000;

export class PgDefence implements LoginDefence {
  private lastSweep = 0;

  constructor(private readonly pool: pg.Pool) {}

  async locked(addr: string, user: string): Promise<boolean> {
    const r = await this.pool.query(
      'SELECT 1 FROM jailsftp_defence WHERE key = $1 AND locked_until >= now()',
      [pairKey(addr, user)],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async failure(addr: string, user: string): Promise<number> {
    this.maybeSweep();
    const pair = pairKey(addr, user);
    const r = await this.pool.query<{ key: string; failures: number }>(FAILURE, [
      pair,
      addrKey(addr),
      WINDOW_MS,
      PAIR_LOCK,
    ]);
    const n = (k: string): number => r.rows.find((row) => row.key === k)?.failures ?? 1;
    return failureDelay(n(pair), n(addrKey(addr)));
  }

  async success(addr: string, user: string): Promise<void> {
    await this.pool.query('DELETE FROM jailsftp_defence WHERE key = $1', [pairKey(addr, user)]);
  }

  /** Deletes the rows whose window has passed; how many. */
  async sweep(): Promise<number> {
    const r = await this.pool.query(
      `DELETE FROM jailsftp_defence WHERE first_failure < now() - $1::bigint * interval '1 millisecond'`,
      [WINDOW_MS],
    );
    return r.rowCount ?? 0;
  }

  private maybeSweep(): void {
    const t = Date.now();
    if (t - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = t;
    this.sweep().catch(() => undefined); // the next one retries; a failure is counted regardless
  }
}

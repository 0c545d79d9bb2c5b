// A user's quota ledger on one node of a cluster: it spends only from this node's grant, a row of
// jailsftp_grants whose bytes are counted in jailsftp_users.reserved, so that used + reserved <=
// quota holds across every node (schema.ts). Writes spend the local grant synchronously; when it
// runs out the ledger refills it with ONE conditional statement (one refill in flight), taking a
// batch that shrinks near the limit (half of what is left, never less than the write) so that
// nothing is refused while room remains; when the database says no while other nodes hold grants,
// it asks them (NOTIFY) to give back what they do not spend and tries again for a moment. Removals
// and truncations lower the local `spent` (it may go below zero). Settling turns `spent` into
// used bytes and gives back the unspent grant: shortly after the last file open for writing
// closes, on a timer, and when the account layer drops the ledger (the grant row is then deleted).
import type pg from 'pg';
import { QuotaError } from '../fs/errors.js';
import { FileLedger } from '../fs/quota.js';

/** A write the ledger cannot grant for a reason other than the quota (lease lost, database away). */
export class QuotaUnavailable extends QuotaError {
  constructor(why: string) {
    super(0);
    this.message = `quota unavailable: ${why}`;
  }
}

/** What a ledger needs from its node (ClusterQuota). */
export interface GrantHost {
  readonly pool: pg.Pool;
  readonly nodeId: string;
  /** the largest refill, bytes */
  readonly batchBytes: number;
  /** why this node may not grant writes now (fenced), or null */
  fence(): string | null;
  /** asks the other nodes to give back the unspent grants they hold for the user */
  nudge(user: string): Promise<void>;
  /** statements sent (a figure for the report) */
  statements: number;
}

interface UserRow {
  quota: string;
  used: string;
  reserved: string;
}

/** how long a refused refill keeps trying while other nodes hold grants of the user */
const NUDGE_WAIT_MS = 1500;
/** how long after the last file closed the grant is settled */
const IDLE_SETTLE_MS = 300;
/** A refill refused for want of room, for `need` bytes. */
class RoomRefused extends QuotaError {
  constructor(
    free: number,
    readonly need: number,
  ) {
    super(free);
  }
}

export class GrantLedger extends FileLedger {
  /** bytes of this node's grant row (counted in jailsftp_users.reserved) */
  private granted = 0;
  /** bytes written (net: removals subtract) since the last settle */
  private spent = 0;
  /** jailsftp_users as last seen: for free() */
  private seen = { quota: 0, used: 0, reserved: 0 };
  /** the database operation in flight (refill or settle): one at a time */
  private busy: Promise<unknown> = Promise.resolve();
  private refilling?: Promise<void>;
  private idleTimer?: NodeJS.Timeout;
  /** why the ledger no longer grants (node lost its lease, user deleted) */
  dead: string | null = null;
  /** holds by the account layer (ClusterQuota.newLedger) */
  refs = 0;
  /** the grant row is gone (closed); a new hold makes a new ledger */
  closed = false;

  constructor(
    private readonly host: GrantHost,
    readonly user: string,
    public limit: number,
  ) {
    super();
  }

  /** figures for tests */
  get state(): { granted: number; spent: number } {
    return { granted: this.granted, spent: this.spent };
  }

  free(): number {
    if (this.unlimited) return Number.MAX_SAFE_INTEGER;
    const room = Math.max(0, this.limit - this.seen.used - this.seen.reserved);
    return room + Math.max(0, this.granted - this.spent);
  }

  reserve(n: number): void | Promise<void> {
    if (n <= 0) return;
    const why = this.dead ?? this.host.fence();
    if (why) throw new QuotaUnavailable(why);
    if (this.spent + n <= this.granted) {
      this.spent += n;
      return;
    }
    return this.refillFor(n);
  }

  give(n: number): void {
    if (n > 0 && !this.dead) this.spent -= n;
  }

  correct(delta: number): void {
    if (!this.dead) this.spent += delta;
  }

  /**
   * The last file open for writing closed: settle a moment later if none opened meanwhile, so that
   * many small files in a row do not cost a settle and a refill each.
   */
  protected override idle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.openFiles === 0) void this.settle(true).catch(() => undefined);
    }, IDLE_SETTLE_MS);
    this.idleTimer.unref();
  }

  /** Waits for the refill in flight (one per ledger), then takes from the grant or refills. */
  private async refillFor(n: number): Promise<void> {
    for (;;) {
      if (this.refilling) {
        try {
          await this.refilling;
        } catch (e) {
          // the database or the lease failed: so do the writes that waited (one refusal for the
          // burst, not successes after it); a refill refused for room refuses the waiting writes
          // that need as much (a burst of pipelined writes: at once, not a statement and a wait
          // each), and lets a smaller one try
          if (e instanceof QuotaUnavailable) throw e;
          if (e instanceof RoomRefused && this.spent + n - this.granted >= e.need) throw e;
        }
      } else {
        this.refilling = this.refill(n);
        try {
          await this.refilling;
        } finally {
          this.refilling = undefined;
        }
      }
      const why = this.dead ?? this.host.fence();
      if (why) throw new QuotaUnavailable(why);
      if (this.spent + n <= this.granted) {
        this.spent += n;
        return;
      }
    }
  }

  /** Adds to the grant at least what n more bytes need, or throws QuotaError. */
  private async refill(n: number): Promise<void> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      let need = 0;
      const r = await this.serial(() => {
        need = this.spent + n - this.granted; // worked out when it runs: a settle may come first
        return need <= 0 ? Promise.resolve({ granted: 1 }) : this.grantStatement(need);
      });
      if (r.granted > 0) return;
      // refused: if other nodes hold grants they may give back part of them; ask and try again
      const others = this.seen.reserved - this.granted;
      const room = this.seen.quota - this.seen.used - this.seen.reserved;
      if (
        others <= 0 ||
        room + others < need ||
        Date.now() - started > NUDGE_WAIT_MS ||
        this.host.fence() !== null
      ) {
        throw new RoomRefused(Math.max(0, room + this.granted - this.spent), need);
      }
      if (attempt === 0) await this.host.nudge(this.user).catch(() => undefined);
      await new Promise((r) => setTimeout(r, Math.min(200, 20 * 2 ** attempt)));
    }
  }

  /**
   * The one conditional statement of a refill: locks the user's row, takes k = the batch, or with
   * a quota the smaller of the batch and half the room left, but never less than `need`, if
   * used + reserved + k <= quota and this node's lease is still valid; adds k to this node's
   * grant row. Refused: the user's figures, and whether the lease was valid.
   */
  private async grantStatement(need: number): Promise<{ granted: number }> {
    if (this.dead) throw new QuotaUnavailable(this.dead);
    this.host.statements++;
    let res: pg.QueryResult<UserRow & { k: string | null; bytes: string | null; leased: boolean }>;
    try {
      res = await this.host.pool.query({
        text: `WITH node AS (
                 SELECT 1 FROM jailsftp_nodes WHERE id = $2 AND lease_until > now() FOR SHARE
               ), cur AS (
                 SELECT name, quota, used, reserved,
                        GREATEST($3::bigint, CASE WHEN quota = 0 THEN $4::bigint
                          ELSE LEAST($4::bigint, (quota - used - reserved) / 2) END) AS k
                 FROM jailsftp_users WHERE name = $1 FOR UPDATE
               ), u AS (
                 UPDATE jailsftp_users t SET reserved = t.reserved + cur.k FROM cur
                 WHERE t.name = cur.name AND EXISTS (SELECT 1 FROM node)
                   AND (t.quota = 0 OR t.used + t.reserved + cur.k <= t.quota)
                 RETURNING cur.k, t.quota, t.used, t.reserved
               ), g AS (
                 INSERT INTO jailsftp_grants (node, username, bytes, spent)
                 SELECT $2, $1, u.k, $5 FROM u
                 ON CONFLICT (node, username)
                 DO UPDATE SET bytes = jailsftp_grants.bytes + EXCLUDED.bytes, spent = EXCLUDED.spent
                 RETURNING bytes
               )
               SELECT u.k::text AS k, g.bytes::text AS bytes, u.quota::text AS quota,
                      u.used::text AS used, u.reserved::text AS reserved, true AS leased
               FROM u, g
               UNION ALL
               SELECT NULL, NULL, cur.quota::text, cur.used::text, cur.reserved::text,
                      EXISTS (SELECT 1 FROM node)
               FROM cur WHERE NOT EXISTS (SELECT 1 FROM u)`,
        values: [this.user, this.host.nodeId, need, this.host.batchBytes, Math.max(0, this.spent)],
      });
    } catch (e) {
      throw new QuotaUnavailable(`quota store unreachable (${(e as Error).message})`);
    }
    const row = res.rows[0];
    if (!row) throw new QuotaUnavailable('user not found in the store');
    this.see(row);
    if (!row.leased) throw new QuotaUnavailable('node lost its lease');
    if (row.k === null) return { granted: 0 };
    this.granted = Number(row.bytes);
    return { granted: Number(row.k) };
  }

  /**
   * Turns `spent` into used bytes; with `all`, gives back the unspent grant too (when the last
   * file closes; then also on the timer if no file is open). Local figures move first, so that
   * writes meanwhile spend only what remains; they are put back if the statement fails.
   */
  settle(all: boolean): Promise<void> {
    return this.serial(async () => {
      if (this.dead || this.closed) return;
      if (all && this.openFiles > 0) all = false; // a file opened meanwhile: keep its grant
      const spent = this.spent;
      const give = all ? this.granted - Math.max(0, spent) : 0;
      const release = Math.min(this.granted, Math.max(0, spent) + Math.max(0, give));
      if (spent === 0 && release === 0) return;
      this.spent -= spent;
      this.granted -= release;
      this.host.statements++;
      try {
        const r = await this.host.pool.query<UserRow>(
          `WITH g AS (
             UPDATE jailsftp_grants SET bytes = bytes - $3, spent = 0
             WHERE node = $2 AND username = $1 RETURNING bytes
           )
           UPDATE jailsftp_users SET used = GREATEST(0, used + $4), reserved = GREATEST(0, reserved - $3)
           WHERE name = $1 AND EXISTS (SELECT 1 FROM g)
           RETURNING quota::text, used::text, reserved::text`,
          [this.user, this.host.nodeId, release, spent],
        );
        if (r.rows[0]) this.see(r.rows[0]);
      } catch (e) {
        this.spent += spent;
        this.granted += release;
        throw e;
      }
    });
  }

  /**
   * The account layer dropped the ledger: settles everything and deletes the grant row (unless a
   * new hold came meanwhile). Rejects when the database does not answer (ClusterQuota retries).
   */
  finish(): Promise<void> {
    return this.serial(async () => {
      if (this.refs > 0 || this.closed || this.dead) return;
      this.host.statements++;
      await this.host.pool.query(
        `WITH g AS (DELETE FROM jailsftp_grants WHERE node = $2 AND username = $1 RETURNING bytes)
         UPDATE jailsftp_users SET used = GREATEST(0, used + $3),
                reserved = GREATEST(0, reserved - (SELECT bytes FROM g))
         WHERE name = $1 AND EXISTS (SELECT 1 FROM g)`,
        [this.user, this.host.nodeId, this.spent],
      );
      this.closed = true;
      this.granted = 0;
      this.spent = 0;
    });
  }

  /** The account layer dropped one hold; the last one settles and deletes the grant row. */
  close(): void {
    if (--this.refs <= 0) void this.finish().catch(() => undefined); // else the sweep retries
  }

  /** Resolves when the database operation in flight (if any) is over. */
  async settled(): Promise<void> {
    await this.busy;
  }

  /** The node lost its lease (or the user is gone): nothing more is granted; the grant is not ours. */
  kill(why: string): void {
    this.dead = why;
    this.granted = 0;
    this.spent = 0;
  }

  /** jailsftp_users as just seen; `limit` follows the database's quota. */
  private see(row: UserRow): void {
    this.seen = {
      quota: Number(row.quota),
      used: Number(row.used),
      reserved: Number(row.reserved),
    };
    this.limit = this.seen.quota;
  }

  /** Gives back unspent grant if no refill is waiting (another node asked: NOTIFY). */
  yieldGrant(): void {
    if (this.refilling || this.dead || this.closed) return;
    void this.serial(async () => {
      const spare = this.granted - Math.max(0, this.spent);
      if (spare <= 0) return;
      this.granted -= spare;
      this.host.statements++;
      try {
        await this.host.pool.query(
          `WITH g AS (
             UPDATE jailsftp_grants SET bytes = bytes - $3 WHERE node = $2 AND username = $1
             RETURNING bytes
           )
           UPDATE jailsftp_users SET reserved = GREATEST(0, reserved - $3)
           WHERE name = $1 AND EXISTS (SELECT 1 FROM g)`,
          [this.user, this.host.nodeId, spare],
        );
      } catch {
        this.granted += spare;
      }
    }).catch(() => undefined);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.busy.then(fn, fn);
    this.busy = run.catch(() => undefined);
    return run;
  }
}

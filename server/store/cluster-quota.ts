// The exact quota of a cluster (the PostgreSQL store's ledgers): one GrantLedger per user logged in
// on this node, this node's lease (node-lease.ts), and the work every node shares on its
// heartbeat: taking back the grants of dead nodes and correcting `used` from the disk.
//
// Why `used` stays exact: disk = used + the sum over nodes of their unsettled `spent`, and every
// node's spent <= its grant, so disk <= used + reserved <= quota. A dead node's `spent` is unknown,
// so its whole grant is counted as used when it is taken back (never too little), and the user is
// marked (a grant row of the pseudo-node MARK); `used` is then set from a scan of the home as soon
// as no live node holds a grant row of that user (nobody writes there), under the user's row lock
// so that no node starts writing during the scan. A first login on a node where no other node
// holds the user does the same scan, so that files changed outside jailsftpd count from then on.
import { hostname } from 'node:os';
import pg from 'pg';
import { scanUsage } from '../fs/quota.js';
import type { QuotaLedger } from '../fs/quota.js';
import { log } from '../log.js';
import type { UserRecord } from '../account/store.js';
import { GrantLedger, type GrantHost } from './grant-ledger.js';
import { NodeLease } from './node-lease.js';
import { inTransaction } from './transaction.js';

/** the pseudo-node whose grant row marks a user whose `used` must be set from the disk */
export const MARK = '-correct-from-disk-';
/** channel on which a node asks the others to give back unspent grants (payload: user name) */
export const NUDGE_CHANNEL = 'jailsftp_quota';

export interface ClusterQuotaOptions {
  /** lease length in seconds (default 10, at most 30) */
  leaseSeconds?: number;
  /** the largest refill of a grant (default 64 MiB) */
  batchBytes?: number;
  /** settle spent bytes into `used` this often while files are open (default 5000 ms) */
  settleMs?: number;
  /** sum of the file sizes of a home (default scanUsage) */
  scan?: (home: string) => Promise<number>;
}

export class ClusterQuota implements GrantHost {
  readonly batchBytes: number;
  /** statements sent for grants (refills, settles, nudges): the report's round trips */
  statements = 0;
  readonly lease: NodeLease;
  /**
   * The node lost its lease: the cluster took back its grants and its session rows, so its
   * sessions must end (set by the server); `users` held grants here.
   */
  onLeaseLost: (users: string[], why: string) => void = () => undefined;
  /** more work for every heartbeat (the store's: session ends the database missed) */
  onBeat: () => Promise<void> = async () => undefined;
  private readonly ledgers = new Map<string, GrantLedger>();
  private readonly opening = new Map<string, Promise<GrantLedger>>();
  private readonly scan: (home: string) => Promise<number>;
  private readonly settleMs: number;
  private lastSettle = Date.now();
  private listener?: pg.Client;
  private stopping = false;
  private listening?: Promise<void>;
  private stopListener: () => void = () => undefined;

  constructor(
    readonly pool: pg.Pool,
    readonly nodeId: string,
    private readonly homeOf: (record: UserRecord) => string,
    opts: ClusterQuotaOptions = {},
  ) {
    const lease = opts.leaseSeconds ?? 10;
    if (!(lease > 0 && lease <= 30)) throw new Error('cluster.leaseSeconds must be in (0, 30]');
    this.batchBytes = opts.batchBytes ?? 64 * 1024 * 1024;
    this.settleMs = opts.settleMs ?? 5000;
    this.scan = opts.scan ?? scanUsage;
    this.lease = new NodeLease(pool, nodeId, {
      leaseSeconds: lease,
      host: hostname(),
      onBeat: () => this.sweep(),
      onLost: (why) => this.lost(why),
    });
  }

  /** Registers the node, takes back dead nodes' grants, listens for nudges. */
  async start(): Promise<void> {
    await this.lease.start();
    await this.sweep().catch(() => undefined);
    this.listening = this.listen();
  }

  /** Settles and gives back everything, deletes the node's row. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopListener();
    await this.lease.stop();
    for (const l of this.ledgers.values()) {
      l.refs = 0;
      await l.finish().catch(() => undefined);
    }
    this.ledgers.clear();
    // whatever could not be settled is taken back with the row, as for a dead node
    await this.reclaim([this.nodeId]).catch(() => undefined);
    await this.listening;
  }

  /** Why this node may not grant writes now, or null. */
  fence(): string | null {
    if (this.lease.valid()) return null;
    return this.lease.problem ?? 'the node has not renewed its lease';
  }

  problem(): string | null {
    return this.lease.problem;
  }

  /** The user's ledger on this node (one per user, shared by every hold). */
  async newLedger(record: UserRecord, home: string): Promise<QuotaLedger> {
    const name = record.name;
    for (;;) {
      const l = this.ledgers.get(name);
      if (l && !l.closed && !l.dead) {
        l.refs++;
        await l.settled(); // a finish in flight may have deleted its grant row: then a new one
        if (!l.closed && !l.dead) return l;
        continue;
      }
      let p = this.opening.get(name);
      if (!p) {
        p = this.open(record, home).finally(() => this.opening.delete(name));
        this.opening.set(name, p);
      }
      await p; // then take the hold above
    }
  }

  /** The ledgers of this node (tests). */
  ledgerOf(user: string): GrantLedger | undefined {
    return this.ledgers.get(user);
  }

  async nudge(user: string): Promise<void> {
    this.statements++;
    await this.pool.query('SELECT pg_notify($1, $2)', [NUDGE_CHANNEL, user]);
  }

  /**
   * Creates the user's grant row (this node's lease must be valid), after setting `used` from
   * the disk when no other node holds the user.
   */
  private async open(record: UserRecord, home: string): Promise<GrantLedger> {
    const quota = await inTransaction(this.pool, async (c) => {
      const node = await c.query(
        'SELECT 1 FROM jailsftp_nodes WHERE id = $1 AND lease_until > now() FOR SHARE',
        [this.nodeId],
      );
      if (node.rowCount !== 1) throw new Error('node lost its lease');
      const u = await c.query<{ quota: string; others: boolean }>(
        `SELECT quota::text AS quota, EXISTS (SELECT 1 FROM jailsftp_grants g WHERE g.username = u.name
                  AND g.node <> $2 AND g.node <> $3) AS others
         FROM jailsftp_users u WHERE name = $1 FOR UPDATE`,
        [record.name, this.nodeId, MARK],
      );
      const row = u.rows[0];
      if (!row) throw new Error(`user ${record.name} is not in the store`);
      if (!row.others) await this.correctLocked(c, record.name, home);
      await c.query(
        `INSERT INTO jailsftp_grants (node, username) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
        [this.nodeId, record.name],
      );
      return Number(row.quota);
    });
    const l = new GrantLedger(this, record.name, quota);
    this.ledgers.set(record.name, l);
    return l;
  }

  /** Sets the user's `used` from a scan of the home (the user's row is locked by c). */
  private async correctLocked(c: pg.PoolClient, user: string, home: string): Promise<void> {
    const bytes = await this.scan(home);
    await c.query('UPDATE jailsftp_users SET used = $2 WHERE name = $1', [user, bytes]);
    await c.query('DELETE FROM jailsftp_grants WHERE node = $1 AND username = $2', [MARK, user]);
  }

  /** Every heartbeat: dead nodes, marked users, settling, ledgers dropped but not yet settled. */
  private async sweep(): Promise<void> {
    await this.reclaim().catch((e: unknown) =>
      log('cluster.reclaim_error', { error: (e as Error).message }),
    );
    await this.correctMarked().catch((e: unknown) =>
      log('cluster.correct_error', { error: (e as Error).message }),
    );
    const settle = Date.now() - this.lastSettle >= this.settleMs;
    if (settle) this.lastSettle = Date.now();
    for (const [name, l] of [...this.ledgers]) {
      if (l.closed || l.dead) {
        if (l.refs <= 0) this.ledgers.delete(name);
        continue;
      }
      if (l.refs <= 0) await l.finish().catch(() => undefined);
      else if (settle) await l.settle(l.openFiles === 0).catch(() => undefined);
    }
    await this.onBeat().catch(() => undefined);
  }

  /**
   * Takes back the grants of dead nodes (lease passed; or exactly `ids`), in one transaction:
   * each grant counts as used (what the node wrote is unknown, at most its grant), the user is
   * marked for a correction from the disk, the node's sessions and row go. Returns the users.
   */
  async reclaim(ids?: string[]): Promise<string[]> {
    if (!ids) {
      // the common case, one statement: nobody is dead
      const any = await this.pool.query(
        'SELECT 1 FROM jailsftp_nodes WHERE lease_until < now() LIMIT 1',
      );
      if (any.rowCount === 0) return [];
    }
    const done = await inTransaction(this.pool, async (c) => {
      const dead = await c.query<{ id: string }>(
        ids
          ? `SELECT id FROM jailsftp_nodes WHERE id = ANY($1) FOR UPDATE`
          : `SELECT id FROM jailsftp_nodes WHERE lease_until < now() FOR UPDATE SKIP LOCKED`,
        ids ? [ids] : [],
      );
      const gone = ids ?? dead.rows.map((r) => r.id);
      if (gone.length === 0) return { gone, users: [] };
      const users = await c.query<{ username: string }>(
        `WITH g AS (DELETE FROM jailsftp_grants WHERE node = ANY($1) RETURNING username, bytes),
              s AS (SELECT username, sum(bytes) AS b FROM g GROUP BY username),
              u AS (UPDATE jailsftp_users t SET reserved = GREATEST(0, t.reserved - s.b),
                           used = t.used + s.b
                    FROM s WHERE t.name = s.username RETURNING t.name)
         INSERT INTO jailsftp_grants (node, username) SELECT $2, username FROM s
         ON CONFLICT DO NOTHING RETURNING username`,
        [gone, MARK],
      );
      await c.query('DELETE FROM jailsftp_sessions WHERE node = ANY($1)', [gone]);
      await c.query('DELETE FROM jailsftp_nodes WHERE id = ANY($1)', [gone]);
      return { gone, users: users.rows.map((r) => r.username) };
    });
    if (done.gone.length > 0 && (!ids || ids[0] !== this.nodeId))
      log('cluster.reclaimed', { nodes: done.gone.join(','), users: done.users.length });
    return done.users;
  }

  /** Sets `used` from the disk for marked users that no live node holds now. */
  private async correctMarked(): Promise<void> {
    const r = await this.pool.query<{ username: string; record: UserRecord }>(
      `SELECT g.username, u.record FROM jailsftp_grants g JOIN jailsftp_users u ON u.name = g.username
       WHERE g.node = $1 AND NOT EXISTS (
         SELECT 1 FROM jailsftp_grants o WHERE o.username = g.username AND o.node <> $1)`,
      [MARK],
    );
    for (const row of r.rows) {
      await inTransaction(this.pool, async (c) => {
        // the row lock keeps every node from starting a grant of this user during the scan
        const still = await c.query(
          `SELECT 1 FROM jailsftp_users u WHERE name = $1
             AND EXISTS (SELECT 1 FROM jailsftp_grants WHERE username = $1 AND node = $2)
             AND NOT EXISTS (SELECT 1 FROM jailsftp_grants WHERE username = $1 AND node <> $2)
           FOR UPDATE SKIP LOCKED`,
          [row.username, MARK],
        );
        if (still.rowCount === 1) {
          const home = this.homeOf({ ...row.record, name: row.username });
          await this.correctLocked(c, row.username, home);
        }
      });
    }
  }

  /** The lease is gone: every ledger stops granting, their sessions end, the grants go back. */
  private async lost(why: string): Promise<void> {
    const users = [...this.ledgers.keys()];
    for (const l of this.ledgers.values()) l.kill(why);
    this.ledgers.clear();
    log('cluster.lease_lost', { node: this.nodeId, users: users.length });
    this.onLeaseLost(users, why);
    await this.reclaim([this.nodeId]);
  }

  /** LISTEN for nudges on a connection of its own; reconnects with a backoff. */
  private async listen(): Promise<void> {
    let delay = 200;
    while (!this.stopping) {
      const c = new pg.Client(this.pool.options);
      this.listener = c;
      let failed: () => void = () => undefined;
      const down = new Promise<void>((res) => (failed = res));
      // only stopping cuts a backoff short: a client that failed to connect also ends, at once
      let stop: () => void = () => undefined;
      const stopped = new Promise<void>((res) => (stop = res));
      this.stopListener = () => {
        stop();
        failed();
      };
      c.on('error', () => failed());
      c.on('end', () => failed());
      c.on('notification', (n) => {
        if (n.channel === NUDGE_CHANNEL && n.payload) this.ledgers.get(n.payload)?.yieldGrant();
      });
      try {
        await c.connect();
        await c.query(`LISTEN ${NUDGE_CHANNEL}`);
        delay = 200;
        await down;
      } catch {
        await Promise.race([new Promise((r) => setTimeout(r, delay).unref()), stopped]);
        delay = Math.min(delay * 2, 2000);
      }
      c.end().catch(() => undefined);
    }
  }
}

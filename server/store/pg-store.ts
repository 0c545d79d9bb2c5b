// The PostgreSQL store of a node (cluster mode): user records in jailsftp_users read at every login,
// changes heard on the channel jailsftp_users (LISTEN on a connection of its own, reconnected with
// backoff, and every user announced again after a reconnect since notifications were missed
// meanwhile), and the database's reachability for health checks. While the database is away a
// lookup fails within the pool's short timeouts (new logins are refused), the sessions already
// open go on, and the pool and the listener reconnect by themselves when it returns.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import type { QuotaLedger } from '../fs/quota.js';
import { log } from '../log.js';
import { StoreUnavailable, type Store, type UserRecord } from '../account/store.js';
import { PgRecords } from './pg-records.js';
import { ClusterQuota, type ClusterQuotaOptions } from './cluster-quota.js';
import { maskUrl, pgConfig } from './pg-config.js';
import { schemaVersion, SCHEMA_VERSION } from './schema.js';
import { PgDefence } from './pg-defence.js';
import { forgetNode, PgSessions } from './pg-sessions.js';
import { PgTotpSteps } from './pg-totp.js';

const CHANNEL = 'jailsftp_users';
/** the listener's liveness query: a database that stops answering is noticed within ~5 s */
const HEARTBEAT_MS = 2000;
const BACKOFF_MIN_MS = 200;
const BACKOFF_MAX_MS = 2000;

function message(e: unknown): string {
  return e instanceof Error ? e.message || e.constructor.name : String(e);
}

export class PgStore implements Store {
  readonly pool: pg.Pool;
  /** this node's id (leases, sessions): host:pid:random */
  readonly nodeId = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  readonly records: PgRecords;
  /** the exact quota across nodes: grants, this node's lease, reclaiming dead nodes */
  readonly quota: ClusterQuota;
  // the counts every node shares: login defence, sessions per user, used TOTP steps
  readonly defence: PgDefence;
  readonly sessions: PgSessions;
  readonly totpSteps: PgTotpSteps;
  /** the location without its password */
  readonly location: string;
  private readonly watchers = new Set<(user: string) => void>();
  /** names looked up on this node: announced again after a reconnect (a deleted user's too) */
  private readonly seen = new Set<string>();
  private listenerDown: string | null = null;
  private poolDown: string | null = null;
  private closed = false;
  private stopListener: () => void = () => undefined;
  private listening?: Promise<void>;

  private constructor(
    private readonly url: string,
    homes: string,
    cluster: ClusterQuotaOptions = {},
  ) {
    this.location = maskUrl(url);
    this.pool = new pg.Pool(pgConfig(url));
    // an idle connection cut by the server (restart, admin_shutdown) must not end the process
    this.pool.on('error', (e) => {
      this.poolDown = `PostgreSQL connection lost: ${message(e)}`;
    });
    this.records = new PgRecords(this.pool, homes, this.location);
    this.quota = new ClusterQuota(this.pool, this.nodeId, (r) => this.homeOf(r), cluster);
    this.defence = new PgDefence(this.pool);
    this.sessions = new PgSessions(this.pool, this.nodeId);
    this.quota.onBeat = () => this.sessions.retryReleases();
    this.totpSteps = new PgTotpSteps(this.pool);
  }

  /**
   * Connects and checks the schema (never migrates it: `jailsftpd store init` does, once, so that
   * an upgrade is a decision and not a side effect of the first node to start); then listens.
   */
  static async open(url: string, homes: string, cluster?: ClusterQuotaOptions): Promise<PgStore> {
    const s = new PgStore(url, homes, cluster);
    try {
      await requireSchema(s.pool, s.location);
      await s.quota.start();
    } catch (e) {
      await s.pool.end().catch(() => undefined);
      throw e;
    }
    s.listening = s.listen();
    return s;
  }

  async user(name: string): Promise<UserRecord | undefined> {
    try {
      const r = await this.records.get(name);
      this.poolDown = null;
      if (r) this.seen.add(name);
      return r;
    } catch (e) {
      if (e instanceof StoreUnavailable) this.poolDown = e.message;
      throw e;
    }
  }

  homeOf(record: UserRecord): string {
    return this.records.homeOf(record);
  }

  // the user's ledger spends from this node's grant (cluster-quota.ts)
  newLedger(record: UserRecord, home: string): Promise<QuotaLedger> {
    return this.quota.newLedger(record, home);
  }

  watch(onChange: (user: string) => void): () => void {
    this.watchers.add(onChange);
    return () => this.watchers.delete(onChange);
  }

  problem(): string | null {
    const why = this.listenerDown ?? this.poolDown ?? this.quota.problem();
    return why === null ? null : `store ${this.location} unavailable: ${why}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopListener();
    await this.quota.stop();
    await this.listening;
    // every session has ended by now: rows left are ends the database missed (it was away)
    await forgetNode(this.pool, this.nodeId).catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }

  private announce(user: string): void {
    for (const w of this.watchers) {
      try {
        w(user);
      } catch (e) {
        log('store.watch_error', { store: this.location, error: message(e) });
      }
    }
  }

  /** The listener's life: connect, LISTEN, wait for the connection to fail, back off, again. */
  private async listen(): Promise<void> {
    let delay = BACKOFF_MIN_MS;
    let lost = false;
    while (!this.closed) {
      const c = new pg.Client({
        ...pgConfig(this.url),
        application_name: 'jailsftpd-listen',
        query_timeout: HEARTBEAT_MS + 1000,
      });
      let failed: (why: string) => void = () => undefined;
      const down = new Promise<string>((res) => (failed = res));
      c.on('error', (e) => failed(message(e)));
      c.on('end', () => failed('connection ended'));
      c.on('notification', (n) => {
        if (n.channel === CHANNEL && n.payload) this.announce(n.payload);
      });
      // only closing cuts a backoff short: a client that failed to connect also ends, at once
      let stop: () => void = () => undefined;
      const closing = new Promise<void>((res) => (stop = res));
      this.stopListener = () => {
        stop();
        failed('closing');
      };
      try {
        await c.connect();
        await c.query(`LISTEN ${CHANNEL}`);
      } catch (e) {
        c.end().catch(() => undefined);
        this.listenerDown = `PostgreSQL unreachable: ${message(e)}`;
        if (!lost) log('store.unavailable', { store: this.location, error: message(e) });
        lost = true;
        await Promise.race([sleep(delay), closing]);
        delay = Math.min(delay * 2, BACKOFF_MAX_MS);
        continue;
      }
      delay = BACKOFF_MIN_MS;
      this.listenerDown = null;
      this.poolDown = null;
      if (lost) {
        log('store.recovered', { store: this.location });
        // notifications sent while we were away are lost: every user is announced again (the
        // account layer acts only for those logged in here)
        void this.resync(c);
      }
      lost = false;
      const beat = setInterval(() => {
        c.query('SELECT 1').catch((e: unknown) => failed(`no answer: ${message(e)}`));
        // a lookup that failed (timeout, cut connection) marked the pool down: until a login
        // succeeds again, a probe through the pool says when it answers again
        if (this.poolDown !== null)
          this.pool.query('SELECT 1').then(
            () => (this.poolDown = null),
            () => undefined,
          );
      }, HEARTBEAT_MS);
      const why = await down;
      clearInterval(beat);
      // end() waits for the server; a dead server may never answer: do not wait for it
      c.end().catch(() => undefined);
      if (this.closed) return;
      this.listenerDown = `PostgreSQL connection lost: ${why}`;
      log('store.unavailable', { store: this.location, error: why });
      lost = true;
    }
  }

  private async resync(c: pg.Client): Promise<void> {
    const names = new Set(this.seen);
    try {
      const res = await c.query<{ name: string }>('SELECT name FROM jailsftp_users');
      for (const r of res.rows) names.add(r.name);
    } catch {
      // the seen names still go out; the sweep of logged-in users covers the rest
    }
    for (const n of names) this.announce(n);
  }
}

/** Rejects unless the database answers and has this jailsftpd's schema version. */
export async function requireSchema(pool: pg.Pool, location: string): Promise<void> {
  let version: number;
  try {
    const c = await pool.connect();
    try {
      version = await schemaVersion(c);
    } finally {
      c.release();
    }
  } catch (e) {
    throw new Error(`cannot reach the store ${location}: ${message(e)}`);
  }
  if (version === SCHEMA_VERSION) return;
  const what = version === 0 ? 'no jailsftp schema' : `schema version ${version}`;
  throw new Error(
    version > SCHEMA_VERSION
      ? `the store ${location} has ${what}, newer than this jailsftpd (${SCHEMA_VERSION}): upgrade jailsftpd`
      : `the store ${location} has ${what}, this jailsftpd needs ${SCHEMA_VERSION}: run jailsftpd store init --store URL`,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

// This node's lease in jailsftp_nodes (cluster mode). A heartbeat renews it every lease/5; a node
// whose lease has passed is dead and any node takes its grants back (grant-sql.ts). A node that
// cannot renew fences itself: from half the lease after the last renewal that succeeded (measured
// from when it was sent, on the monotonic clock) it grants no write, so that it stops before
// anyone can take its grants back. A renewal that finds the lease gone or expired (the node was
// stopped, or cut off for longer than the lease) reports the loss; the owner drops its grants and
// registers again.
import { performance } from 'node:perf_hooks';
import type pg from 'pg';

export interface LeaseOptions {
  /** lease length, seconds (at most 30) */
  leaseSeconds: number;
  /** this node's host name, for the row */
  host: string;
  /** after every heartbeat (renewed or not): reclaiming dead nodes, settling */
  onBeat: () => Promise<void>;
  /** the lease was lost; resolves once the node dropped what it held (then it registers again) */
  onLost: (why: string) => Promise<void>;
}

export class NodeLease {
  /** performance.now() when the last renewal that succeeded was sent */
  private renewedAt = Number.NEGATIVE_INFINITY;
  private timer?: NodeJS.Timeout;
  private stopped = true;
  private beating?: Promise<void>;
  /** why the last heartbeat failed, or null */
  problem: string | null = null;
  /** heartbeats sent (a figure for the tests and the report) */
  beats = 0;

  constructor(
    private readonly pool: pg.Pool,
    readonly nodeId: string,
    private readonly opts: LeaseOptions,
  ) {}

  get leaseMs(): number {
    return this.opts.leaseSeconds * 1000;
  }

  /** May this node grant writes now: renewed within half the lease. */
  valid(): boolean {
    return performance.now() - this.renewedAt < this.leaseMs / 2;
  }

  /** Registers the node (a new row) and starts the heartbeat. Rejects when the database does not answer. */
  async start(): Promise<void> {
    await this.register();
    this.stopped = false;
    this.schedule();
  }

  /** Stops the heartbeat (the owner deletes the row after giving everything back). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.beating;
  }

  /** Deletes the node's row (after its grants were given back). */
  async remove(): Promise<void> {
    this.renewedAt = Number.NEGATIVE_INFINITY;
    await this.pool.query('DELETE FROM jailsftp_nodes WHERE id = $1', [this.nodeId]);
  }

  /** One heartbeat now (tests; also what the timer runs). */
  beat(): Promise<void> {
    this.beating ??= this.renew().finally(() => (this.beating = undefined));
    return this.beating;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.beat().finally(() => this.schedule());
    }, this.leaseMs / 5);
    this.timer.unref();
  }

  private async register(): Promise<void> {
    const sent = performance.now();
    await this.pool.query(
      timed(
        `INSERT INTO jailsftp_nodes (id, host, lease_until)
         VALUES ($1, $2, now() + make_interval(secs => $3))`,
        [this.nodeId, this.opts.host, this.opts.leaseSeconds],
        this.leaseMs / 2,
      ),
    );
    this.renewedAt = sent;
    this.problem = null;
  }

  private async renew(): Promise<void> {
    this.beats++;
    const sent = performance.now();
    let renewed: boolean;
    try {
      const r = await this.pool.query(
        timed(
          `UPDATE jailsftp_nodes SET lease_until = now() + make_interval(secs => $2)
           WHERE id = $1 AND lease_until > now()`,
          [this.nodeId, this.opts.leaseSeconds],
          this.leaseMs / 2, // an answer later than this could not keep the lease anyway
        ),
      );
      renewed = r.rowCount === 1;
    } catch (e) {
      this.problem = `cannot renew the node's lease: ${(e as Error).message}`;
      return;
    }
    if (renewed) {
      this.renewedAt = sent;
      this.problem = null;
    } else {
      // expired or taken back: whatever this node held is no longer its own
      this.renewedAt = Number.NEGATIVE_INFINITY;
      this.problem = 'node lost its lease';
      try {
        await this.opts.onLost('node lost its lease');
        await this.register();
      } catch (e) {
        this.problem = `node lost its lease, cannot register again: ${(e as Error).message}`;
        return;
      }
    }
    try {
      await this.opts.onBeat();
    } catch {
      /* the next heartbeat tries again */
    }
  }
}

/** A query that the client gives up after ms (pg reads query_timeout per query; its types lack it). */
function timed(text: string, values: unknown[], ms: number): pg.QueryConfig {
  return Object.assign({ text, values }, { query_timeout: ms });
}

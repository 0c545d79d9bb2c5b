// The session registry in PostgreSQL (cluster mode): one row per open session in jailsftp_sessions,
// tagged with the node that holds it, so that maxSessionsPerUser holds across all nodes. A session
// is admitted under a transaction-scoped advisory lock on the user name: two nodes admitting the
// same user at once queue on it, and each counts the other's committed row. The rows of a node
// that died are removed by whoever reclaims its lease (forgetNode).
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { inTransaction } from './transaction.js';
import { sessionLimitText, type SessionEntry, type SessionRegistry } from '../account/sessions.js';

/** The first key of our advisory locks on user names ("jsft"); the second is from the name. */
const LOCK_CLASS = 0x6a736674;

/** A signed 32-bit number from the user name (advisory lock key; collisions only share a lock). */
function nameLockKey(user: string): number {
  return createHash('sha256').update(user).digest().readInt32BE(0);
}

/** Anything with pg's query (a Pool or a client inside the caller's transaction). */
export type Queryable = Pick<pg.ClientBase, 'query'>;

/** Removes the session rows of a node (dead, or this node starting again); how many. */
export async function forgetNode(client: Queryable, nodeId: string): Promise<number> {
  const r = await client.query('DELETE FROM jailsftp_sessions WHERE node = $1', [nodeId]);
  return r.rowCount ?? 0;
}

export class PgSessions implements SessionRegistry {
  /** sessions that ended while the database did not answer: deleted at the next chance */
  private readonly unreleased = new Set<string>();

  constructor(
    private readonly pool: pg.Pool,
    readonly nodeId: string,
  ) {}

  async admit(user: string, max: number, s: SessionEntry): Promise<string | undefined> {
    await this.retryReleases();
    // one round trip for both (no parameters: the lock keys are numbers computed here)
    const lock = `BEGIN; SELECT pg_advisory_xact_lock(${LOCK_CLASS}, ${nameLockKey(user)})`;
    const admitted = await inTransaction(
      this.pool,
      async (c) => {
        // a statement of its own after the lock: its snapshot sees every row committed before
        const r = await c.query(
          `INSERT INTO jailsftp_sessions (id, node, username, addr)
           SELECT $1, $2, $3, $4
           WHERE (SELECT count(*) FROM jailsftp_sessions WHERE username = $3) < $5
           RETURNING id`,
          [s.id, this.nodeId, user, s.addr, max],
        );
        return r.rowCount === 1;
      },
      lock,
    );
    return admitted ? undefined : sessionLimitText(user, max);
  }

  async release(id: string): Promise<void> {
    try {
      await this.pool.query('DELETE FROM jailsftp_sessions WHERE id = $1', [id]);
    } catch (e) {
      this.unreleased.add(id);
      throw e;
    }
  }

  /** Deletes the rows of sessions whose end the database missed (a heartbeat may call it). */
  async retryReleases(): Promise<void> {
    if (this.unreleased.size === 0) return;
    const ids = [...this.unreleased];
    try {
      await this.pool.query('DELETE FROM jailsftp_sessions WHERE id = ANY($1)', [ids]);
      for (const id of ids) this.unreleased.delete(id);
    } catch {
      // still unreachable: admit will fail on its own and say so
    }
  }
}

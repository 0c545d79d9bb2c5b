// User records in PostgreSQL (table jailsftp_users, server/store/schema.ts): `record` holds the
// UserRecord without its name, the `quota` column mirrors record.quota (the grant statement reads
// it) and wins when they differ, `used` is the bytes the user's files hold as the store settled
// them. Shared by the node's store (PgStore) and the admin commands.
import type pg from 'pg';
import { StoreUnavailable } from '../account/store.js';
import type { UserRecords } from '../users/records.js';
import { checkRecord, homeIn, validName, type UserRecord } from '../users/store.js';

type Queryable = Pick<pg.Pool, 'query'>;

interface Row {
  record: unknown;
  quota: string;
}

/** The jsonb to store: the record without its name. */
function stored(r: UserRecord): string {
  return JSON.stringify({ ...r, name: undefined }); // undefined: left out by JSON
}

export class PgRecords implements UserRecords {
  constructor(
    private readonly db: Queryable,
    readonly homes: string,
    readonly location: string,
    /** ends the connections when the records own them (admin commands) */
    private readonly onClose: () => Promise<void> = async () => undefined,
  ) {}

  /** Runs a statement; a failure to reach the database or to answer in time is StoreUnavailable. */
  private async q<R extends pg.QueryResultRow>(
    sql: string,
    params: unknown[],
  ): Promise<pg.QueryResult<R>> {
    try {
      return await this.db.query<R>(sql, params);
    } catch (e) {
      throw new StoreUnavailable(e);
    }
  }

  async get(name: string): Promise<UserRecord | undefined> {
    if (!validName(name)) return undefined;
    const res = await this.q<Row>(
      'SELECT record, quota::text AS quota FROM jailsftp_users WHERE name = $1',
      [name],
    );
    const row = res.rows[0];
    if (!row) return undefined;
    const where = `user record ${name} in ${this.location}`;
    if (typeof row.record !== 'object' || row.record === null)
      throw new Error(`${where} is invalid`);
    return checkRecord({ ...row.record, name, quota: Number(row.quota) }, name, where);
  }

  async list(): Promise<string[]> {
    const res = await this.q<{ name: string }>(
      'SELECT name FROM jailsftp_users ORDER BY name COLLATE "C"',
      [],
    );
    return res.rows.map((r) => r.name);
  }

  async create(r: UserRecord, used = 0): Promise<boolean> {
    const res = await this.q(
      `INSERT INTO jailsftp_users (name, record, quota, used) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO NOTHING`,
      [r.name, stored(r), r.quota, used],
    );
    return res.rowCount === 1;
  }

  async put(r: UserRecord): Promise<void> {
    const res = await this.q(
      'UPDATE jailsftp_users SET record = $2, quota = $3, changed = now() WHERE name = $1',
      [r.name, stored(r), r.quota],
    );
    if (res.rowCount !== 1) throw new Error(`no such user: ${r.name}`);
  }

  /** Replaces the record and the settled usage (import --replace). */
  async replace(r: UserRecord, used: number): Promise<void> {
    await this.q(
      'UPDATE jailsftp_users SET record = $2, quota = $3, used = $4, changed = now() WHERE name = $1',
      [r.name, stored(r), r.quota, used],
    );
  }

  async delete(name: string): Promise<boolean> {
    const res = await this.q('DELETE FROM jailsftp_users WHERE name = $1', [name]);
    return res.rowCount === 1;
  }

  async used(r: UserRecord): Promise<number> {
    const res = await this.q<{ used: string }>(
      'SELECT used::text AS used FROM jailsftp_users WHERE name = $1',
      [r.name],
    );
    return Number(res.rows[0]?.used ?? 0);
  }

  homeOf(r: UserRecord): string {
    return homeIn(this.homes, r);
  }

  close(): Promise<void> {
    return this.onClose();
  }
}

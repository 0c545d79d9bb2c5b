// The PostgreSQL schema of cluster mode, as numbered migrations. `jailsftpd store init` applies the
// ones a database lacks, in order, each in its own transaction, under an advisory lock so that two
// nodes starting at once do not both migrate. Never edit a migration that has shipped: add one.
import type { ClientBase } from 'pg';

/** Tables (every name starts with jailsftp_ so that the database can be shared):
 *  - jailsftp_users: one row per user. `record` is the user record (server/users/store.ts) without
 *    its name; `quota` mirrors record.quota for the conditional grant statement. `used` = bytes
 *    the user's files hold, settled; `reserved` = the sum of the grants nodes hold now.
 *    Invariant: used + reserved <= quota (when quota > 0), whatever the number of nodes.
 *  - jailsftp_nodes: one row per running node; `lease_until` renewed by its heartbeat. A node whose
 *    lease has passed is dead: its grants are taken back and `used` corrected from the disk.
 *  - jailsftp_grants: bytes of a user's quota reserved by a node (`bytes`), of which `spent` were
 *    written by that node and not yet settled into jailsftp_users.used.
 *  - jailsftp_sessions: the logged-in sessions of every node (maxSessionsPerUser across nodes).
 *  - jailsftp_defence: login failures per key (address, or address+user) and lockouts.
 *  - jailsftp_totp_used: TOTP steps already accepted, per user (a code is accepted once).
 *  Changes to users are announced on the channel `jailsftp_users` with the user's name.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: cluster mode's first schema
  `
  CREATE TABLE jailsftp_users (
    name text PRIMARY KEY,
    record jsonb NOT NULL,
    quota bigint NOT NULL DEFAULT 0 CHECK (quota >= 0),
    used bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
    reserved bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    changed timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE jailsftp_nodes (
    id text PRIMARY KEY,
    host text NOT NULL,
    started timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz NOT NULL
  );
  CREATE TABLE jailsftp_grants (
    node text NOT NULL,
    username text NOT NULL REFERENCES jailsftp_users(name) ON DELETE CASCADE ON UPDATE CASCADE,
    bytes bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    spent bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
    PRIMARY KEY (node, username)
  );
  CREATE TABLE jailsftp_sessions (
    id text PRIMARY KEY,
    node text NOT NULL,
    username text NOT NULL,
    addr text NOT NULL,
    since timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX jailsftp_sessions_user ON jailsftp_sessions (username);
  CREATE TABLE jailsftp_defence (
    key text PRIMARY KEY,
    failures integer NOT NULL DEFAULT 0,
    first_failure timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz
  );
  CREATE TABLE jailsftp_totp_used (
    username text NOT NULL,
    step bigint NOT NULL,
    used_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (username, step)
  );
  CREATE FUNCTION jailsftp_users_notify() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF TG_OP = 'DELETE' THEN
      PERFORM pg_notify('jailsftp_users', OLD.name);
    ELSIF TG_OP = 'INSERT' OR NEW.record IS DISTINCT FROM OLD.record OR NEW.quota <> OLD.quota THEN
      PERFORM pg_notify('jailsftp_users', NEW.name);
    END IF;
    RETURN NULL;
  END $$;
  CREATE TRIGGER jailsftp_users_changed AFTER INSERT OR UPDATE OR DELETE ON jailsftp_users
    FOR EACH ROW EXECUTE FUNCTION jailsftp_users_notify();
  `,
];

/** The version this code needs. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Any 64-bit number that is ours: the advisory lock held while migrating. */
const MIGRATION_LOCK = 0x6a61696c73667470n; // "jailsftp"

/** The database's schema version (0: none). */
export async function schemaVersion(c: ClientBase): Promise<number> {
  const t = await c.query<{ t: string | null }>(`SELECT to_regclass('jailsftp_schema')::text AS t`);
  if (!t.rows[0]?.t) return 0;
  const v = await c.query<{ version: number }>('SELECT version FROM jailsftp_schema');
  return v.rows[0]?.version ?? 0;
}

/** Applies the migrations the database lacks; returns [from, to]. Idempotent. */
export async function migrate(c: ClientBase): Promise<[number, number]> {
  await c.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
  try {
    await c.query('CREATE TABLE IF NOT EXISTS jailsftp_schema (version integer NOT NULL)');
    const from = await schemaVersion(c);
    if (from > SCHEMA_VERSION)
      throw new Error(
        `the database has schema ${from}, newer than this jailsftpd (${SCHEMA_VERSION})`,
      );
    for (let v = from; v < SCHEMA_VERSION; v++) {
      await c.query('BEGIN');
      try {
        await c.query(MIGRATIONS[v]!);
        await c.query('DELETE FROM jailsftp_schema');
        await c.query('INSERT INTO jailsftp_schema (version) VALUES ($1)', [v + 1]);
        await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK');
        throw e;
      }
    }
    return [from, SCHEMA_VERSION];
  } finally {
    await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]);
  }
}

// The PostgreSQL test helper and the schema: a real cluster starts, `migrate` creates the schema
// once and is idempotent, and a change to a user is announced by NOTIFY.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { fixture } from './helpers/fixture.js';
import { startPostgres } from './helpers/postgres.js';
import { needs } from './helpers/tools.js';
import { migrate, SCHEMA_VERSION } from '../server/store/schema.js';

test(
  'schema: migrate creates every table once, again is a no-op, user changes are notified',
  { skip: needs('postgres') },
  async (t) => {
    const fx = fixture(t);
    const db = await startPostgres(fx);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    fx.defer(() => c.end());
    assert.deepEqual(await migrate(c), [0, SCHEMA_VERSION]);
    assert.deepEqual(await migrate(c), [SCHEMA_VERSION, SCHEMA_VERSION]);
    const tables = await db.psql(
      `SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE tablename LIKE 'jailsftp%'`,
    );
    assert.equal(
      tables.trim(),
      'jailsftp_defence,jailsftp_grants,jailsftp_nodes,jailsftp_schema,jailsftp_sessions,jailsftp_totp_used,jailsftp_users',
    );
    const heard: string[] = [];
    c.on('notification', (n) => heard.push(n.payload ?? ''));
    await c.query('LISTEN jailsftp_users');
    await db.psql(
      `INSERT INTO jailsftp_users (name, record, quota) VALUES ('ann', '{"keys":[]}', 100)`,
    );
    await db.psql(`UPDATE jailsftp_users SET used = 5 WHERE name = 'ann'`); // not a record change: silent
    await db.psql(`UPDATE jailsftp_users SET quota = 200 WHERE name = 'ann'`);
    await db.psql(`DELETE FROM jailsftp_users WHERE name = 'ann'`);
    const until = Date.now() + 5000;
    while (heard.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(heard, ['ann', 'ann', 'ann']);
  },
);

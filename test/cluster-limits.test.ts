// Shared limits in cluster mode, against a real PostgreSQL: three "nodes" (the PostgreSQL classes
// on separate pools, with their own node ids) share the login defence, the session registry and the
// TOTP replay memory. Failures spread round-robin over the nodes lock the pair out on every node,
// with the same delays as one node's memory; maxSessionsPerUser holds across nodes, also when they
// all admit at once; a TOTP step accepted on one node is a replay on the others; a forgotten
// node's sessions are gone.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { fixture } from './helpers/fixture.js';
import { startPostgres, type TestPostgres } from './helpers/postgres.js';
import { needs } from './helpers/tools.js';
import { migrate } from '../server/store/schema.js';
import { MemoryDefence, PAIR_LOCK, ADDR_FREE } from '../server/account/defence.js';
import { MemorySessions, type SessionRegistry } from '../server/account/sessions.js';
import { MemoryTotpSteps } from '../server/account/totp-steps.js';
import { PgDefence, pairKey } from '../server/store/pg-defence.js';
import { forgetNode, PgSessions } from '../server/store/pg-sessions.js';
import { PgTotpSteps } from '../server/store/pg-totp.js';

interface Node {
  id: string;
  defence: PgDefence;
  sessions: PgSessions;
  totp: PgTotpSteps;
}

const skip = needs('postgres');

describe('shared limits across nodes (PostgreSQL)', { skip }, () => {
  const fx = fixture(undefined);
  let db: TestPostgres;
  let nodes: Node[] = [];
  let admin: pg.Pool;

  const pool = (): pg.Pool => {
    const p = new pg.Pool({ connectionString: db.url, max: 4 });
    p.on('error', () => undefined); // idle clients cut by a restart
    fx.defer(() => p.end());
    return p;
  };

  before(async () => {
    db = await startPostgres(fx);
    admin = pool();
    const c = await admin.connect();
    await migrate(c);
    c.release();
    nodes = ['node-a', 'node-b', 'node-c'].map((id) => {
      const p = pool();
      return {
        id,
        defence: new PgDefence(p),
        sessions: new PgSessions(p, id),
        totp: new PgTotpSteps(p),
      };
    });
  });

  const at = (i: number): Node => nodes[i % nodes.length]!;

  test('failures round-robin over three nodes lock the pair on every node, with the delays of one node', async () => {
    const memory = new MemoryDefence();
    const addr = '127.0.0.7';
    const shared: number[] = [];
    const alone: number[] = [];
    for (let i = 0; i < PAIR_LOCK; i++) {
      for (const n of nodes)
        assert.equal(await n.defence.locked(addr, 'mallory'), false, `locked after ${i} failures`);
      shared.push(await at(i).defence.failure(addr, 'mallory'));
      alone.push(await memory.failure(addr, 'mallory'));
    }
    assert.deepEqual(shared, alone, 'the same delays as one node sees');
    assert.ok(shared[PAIR_LOCK - 1]! > 0, 'the last failures are slowed');
    for (const n of nodes) {
      assert.equal(await n.defence.locked(addr, 'mallory'), true, `${n.id}: pair not locked`);
      assert.equal(await n.defence.locked(addr, 'alice'), false, `${n.id}: another user locked`);
      assert.equal(
        await n.defence.locked('127.0.0.8', 'mallory'),
        false,
        `${n.id}: the user locked from another address`,
      );
    }
    // the window passes (as the database's clock sees it): the lock ends and counting restarts
    await db.psql(
      `UPDATE jailsftp_defence SET first_failure = first_failure - interval '16 minutes',
         locked_until = locked_until - interval '16 minutes'`,
    );
    assert.equal(await at(1).defence.locked(addr, 'mallory'), false, 'lock outlived its window');
    assert.equal(await at(2).defence.failure(addr, 'mallory'), 0, 'count restarted');
    assert.equal(await at(0).defence.sweep(), 0, 'restarted rows are not swept');
    await db.psql(
      `UPDATE jailsftp_defence SET first_failure = first_failure - interval '16 minutes'`,
    );
    assert.equal(await at(0).defence.sweep(), 2, 'expired rows swept (pair and address)');
    assert.equal((await db.psql('SELECT count(*) FROM jailsftp_defence')).trim(), '0');
  });

  test('a correct login on one node clears the pair on all; the address count stays', async () => {
    const addr = '127.0.0.9';
    for (let i = 0; i < PAIR_LOCK - 1; i++) await at(i).defence.failure(addr, 'bob');
    await at(1).defence.success(addr, 'bob');
    // one more failure: the pair starts at 1 (no delay), the address at PAIR_LOCK
    assert.equal(await at(2).defence.failure(addr, 'bob'), 0);
    assert.equal(await at(0).defence.locked(addr, 'bob'), false);
    const counts = await db.psql(
      `SELECT key || '=' || failures FROM jailsftp_defence WHERE key LIKE '% ${addr}%' ORDER BY key`,
    );
    assert.deepEqual(counts.trim().split('\n'), [
      `addr ${addr}=${PAIR_LOCK}`,
      `pair ${addr} bob=1`,
    ]);
  });

  test('concurrent failures on all nodes are all counted; an address is slowed past ADDR_FREE', async () => {
    const addr = '127.0.0.10';
    const n = ADDR_FREE + 10;
    // many users from one address (a spray), all nodes at once
    await Promise.all(
      Array.from({ length: n }, (_, i) => at(i).defence.failure(addr, `user${i % 7}`)),
    );
    const total = await db.psql(`SELECT failures FROM jailsftp_defence WHERE key = 'addr ${addr}'`);
    assert.equal(Number(total), n, 'a failure lost under concurrency');
    // the next failure of a fresh pair from that address waits for the address count alone
    assert.equal(await at(0).defence.failure(addr, 'fresh'), 20 * (n + 1 - ADDR_FREE));
    // any bytes a client sends as a user name are stored under a bounded key
    const odd = 'x\0y'.repeat(5000);
    await at(1).defence.failure(addr, odd);
    assert.match(pairKey(addr, odd), /^pair 127\.0\.0\.10 #[0-9a-f]{64}$/);
    assert.equal(await at(2).defence.locked(addr, odd), false);
  });

  test('maxSessionsPerUser=2 across nodes: the third session on any node is refused, also at once', async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const s = (id: string): { id: string; addr: string } => ({ id, addr: '127.0.0.2' });
    assert.equal(await a.sessions.admit('carol', 2, s('c1')), undefined);
    assert.equal(await b.sessions.admit('carol', 2, s('c2')), undefined);
    for (const n of nodes)
      assert.equal(
        await n.sessions.admit('carol', 2, s(`c3-${n.id}`)),
        'too many sessions for user carol (limit 2)',
      );
    assert.equal(await c.sessions.admit('dave', 2, s('d1')), undefined, 'another user is free');
    await a.sessions.release('c1');
    assert.equal(await c.sessions.admit('carol', 2, s('c4')), undefined, 'a released slot is free');
    // all three nodes admit the same user at once, twelve times: exactly two get in
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => at(i).sessions.admit('erin', 2, s(`e${i}`))),
    );
    assert.equal(answers.filter((x) => x === undefined).length, 2, answers.join(' | '));
    // the memory registry answers the same
    const mem: SessionRegistry = new MemorySessions();
    assert.equal(await mem.admit('carol', 1, s('m1')), undefined);
    assert.equal(
      await mem.admit('carol', 1, s('m2')),
      'too many sessions for user carol (limit 1)',
    );
  });

  test("a forgotten node's session rows are gone and its slots free on the others", async () => {
    const [a, b] = nodes as [Node, Node];
    const s = (id: string): { id: string; addr: string } => ({ id, addr: '127.0.0.3' });
    assert.equal(await a.sessions.admit('frank', 2, s('f1')), undefined);
    assert.equal(await b.sessions.admit('frank', 2, s('f2')), undefined);
    assert.match((await a.sessions.admit('frank', 2, s('f3')))!, /too many sessions/);
    const rows = await db.psql(`SELECT count(*) FROM jailsftp_sessions WHERE node = 'node-b'`);
    assert.ok(Number(rows) >= 1);
    assert.equal(await forgetNode(admin, 'node-b'), Number(rows));
    assert.equal(
      (await db.psql(`SELECT count(*) FROM jailsftp_sessions WHERE node = 'node-b'`)).trim(),
      '0',
    );
    assert.equal(await a.sessions.admit('frank', 2, s('f4')), undefined, 'the dead slot is free');
    // inside the reclaimer's own transaction
    const c = await admin.connect();
    try {
      await c.query('BEGIN');
      assert.equal(await forgetNode(c, 'node-a'), await countOf('node-a'));
      await c.query('ROLLBACK');
    } finally {
      c.release();
    }
    assert.ok((await countOf('node-a')) > 0, 'rolled back with the transaction');
  });

  const countOf = async (node: string): Promise<number> =>
    Number(await db.psql(`SELECT count(*) FROM jailsftp_sessions WHERE node = '${node}'`));

  test('a TOTP step accepted on node A is a replay on B and C; older steps too; at once, one wins', async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const step = Math.floor(Date.now() / 30000);
    assert.equal(await a.totp.take('gina', step), true);
    assert.equal(await b.totp.take('gina', step), false, 'replayed on node B');
    assert.equal(await c.totp.take('gina', step - 1), false, 'an older step after a newer one');
    assert.equal(await c.totp.take('hank', step), true, 'another user');
    assert.equal(await b.totp.take('gina', step + 1), true, 'the next step');
    const wins = await Promise.all(
      Array.from({ length: 9 }, (_, i) => at(i).totp.take('ivan', step)),
    );
    assert.equal(wins.filter(Boolean).length, 1, 'one node, once');
    // the memory version has the same rule
    const mem = new MemoryTotpSteps();
    assert.deepEqual(
      [
        await mem.take('gina', step),
        await mem.take('gina', step),
        await mem.take('gina', step - 1),
      ],
      [true, false, false],
    );
    await db.psql(
      `UPDATE jailsftp_totp_used SET used_at = used_at - interval '11 minutes' WHERE username = 'hank'`,
    );
    assert.equal(await a.totp.sweep(), 1, 'old steps swept');
  });

  test('while PostgreSQL is down the classes reject (the account layer refuses); they recover', async () => {
    await db.stop();
    try {
      const a = at(0);
      await assert.rejects(a.defence.locked('127.0.0.11', 'jill'));
      await assert.rejects(a.sessions.admit('jill', 2, { id: 'j1', addr: '127.0.0.11' }));
      await assert.rejects(a.totp.take('jill', 1));
    } finally {
      await db.start();
    }
    const b = at(1);
    assert.equal(await b.defence.failure('127.0.0.11', 'jill'), 0);
    assert.equal(await b.sessions.admit('jill', 2, { id: 'j2', addr: '127.0.0.11' }), undefined);
  });
});

// The cluster quota against a real PostgreSQL, with several ClusterQuota instances as the nodes (no
// server processes): concurrent reservations on three nodes never pass the quota and fill it; a
// node whose heartbeat stops is taken back by another within lease + heartbeat, its grant counted
// from the files on disk; a node that cannot reach the database stops granting at half its lease
// and recovers; a node that lost its lease drops its ledgers, ends their sessions and registers
// again; statements per GiB written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { fixture, type Fixture } from './helpers/fixture.js';
import { startPostgres, type TestPostgres } from './helpers/postgres.js';
import { needs } from './helpers/tools.js';
import { migrate } from '../server/store/schema.js';
import { ClusterQuota, MARK, type ClusterQuotaOptions } from '../server/store/cluster-quota.js';
import type { QuotaLedger } from '../server/fs/quota.js';
import type { UserRecord } from '../server/account/store.js';

const MiB = 1024 * 1024;
const skip = needs('postgres');

interface Cluster {
  db: TestPostgres;
  homes: string;
  node(opts?: ClusterQuotaOptions): Promise<ClusterQuota>;
  addUser(name: string, quota: number): Promise<UserRecord>;
  row(name: string): Promise<{ used: number; reserved: number; quota: number }>;
}

async function cluster(fx: Fixture): Promise<Cluster> {
  const db = await startPostgres(fx);
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await migrate(c);
  await c.end();
  const homes = fx.tempDir('jailsftp-homes-');
  const admin = new pg.Pool({ connectionString: db.url, max: 2 });
  admin.on('error', () => undefined);
  fx.defer(() => admin.end());
  let n = 0;
  return {
    db,
    homes,
    async node(opts = {}) {
      const pool = new pg.Pool({
        connectionString: db.url,
        max: 10,
        connectionTimeoutMillis: 1000,
      });
      pool.on('error', () => undefined);
      const q = new ClusterQuota(pool, `node${++n}`, (r) => join(homes, r.name), opts);
      await q.start();
      fx.defer(async () => {
        await q.stop().catch(() => undefined);
        await pool.end();
      });
      return q;
    },
    async addUser(name, quota) {
      mkdirSync(join(homes, name), { recursive: true });
      await admin.query(
        `INSERT INTO jailsftp_users (name, record, quota) VALUES ($1, '{"keys":[]}', $2)`,
        [name, quota],
      );
      return { name, quota } as UserRecord;
    },
    async row(name) {
      const r = await admin.query<{ used: string; reserved: string; quota: string }>(
        'SELECT used::text, reserved::text, quota::text FROM jailsftp_users WHERE name = $1',
        [name],
      );
      const x = r.rows[0]!;
      return { used: Number(x.used), reserved: Number(x.reserved), quota: Number(x.quota) };
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Reserves `size` bytes at a time until the ledger refuses; the bytes granted. */
async function writeUntilRefused(l: QuotaLedger, size: number): Promise<number> {
  let got = 0;
  for (;;) {
    try {
      await l.reserve(size);
      got += size;
    } catch (e) {
      assert.equal((e as { code?: string }).code, 'EQUOTA', String(e));
      return got;
    }
    if (got % (8 * size) === 0) await sleep(0);
  }
}

test(
  'three nodes, 24 concurrent writers over the quota: never more than the quota, and all of it',
  { skip },
  async (t) => {
    const fx = fixture(t);
    const cl = await cluster(fx);
    const Q = 40 * MiB;
    const rec = await cl.addUser('ann', Q);
    const nodes = await Promise.all([1, 2, 3].map(() => cl.node({ batchBytes: 4 * MiB })));
    const ledgers = await Promise.all(nodes.map((n) => n.newLedger(rec, join(cl.homes, 'ann'))));
    // the invariant, watched while the writers run
    let worst = 0;
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const r = await cl.row('ann');
        worst = Math.max(worst, r.used + r.reserved);
        await sleep(5);
      }
    })();
    const size = 32 * 1024;
    const got = await Promise.all(
      ledgers.flatMap((l) => Array.from({ length: 8 }, () => writeUntilRefused(l, size))),
    );
    watching = false;
    await watch;
    const total = got.reduce((a, b) => a + b, 0);
    assert.ok(worst <= Q, `used + reserved reached ${worst} > ${Q}`);
    assert.equal(total, Q, `granted ${total} of ${Q}: early refusal`);
    // every node wrote some: no node starved
    const perNode = [0, 1, 2].map((i) => got.slice(i * 8, i * 8 + 8).reduce((a, b) => a + b, 0));
    assert.ok(
      perNode.every((b) => b > 0),
      `per node ${perNode}`,
    );
    // dropping the ledgers settles: spent → used, grants back
    for (const l of ledgers) l.close?.();
    const until = Date.now() + 5000;
    let r = await cl.row('ann');
    while ((r.reserved !== 0 || r.used !== Q) && Date.now() < until) {
      await sleep(20);
      r = await cl.row('ann');
    }
    assert.deepEqual(r, { used: Q, reserved: 0, quota: Q });
    const rows = await cl.db.psql(`SELECT count(*) FROM jailsftp_grants`);
    assert.equal(rows.trim(), '0');
    t.diagnostic(`per node ${perNode.map((b) => (b / MiB).toFixed(1)).join(' / ')} MiB`);
  },
);

test(
  'a node whose heartbeat stops is taken back within lease + heartbeat; used from the disk',
  { skip },
  async (t) => {
    const fx = fixture(t);
    const cl = await cluster(fx);
    const rec = await cl.addUser('bob', 100 * MiB);
    const lease = 2;
    const a = await cl.node({ leaseSeconds: lease });
    const b = await cl.node({ leaseSeconds: lease, batchBytes: 16 * MiB });
    const lb = await b.newLedger(rec, join(cl.homes, 'bob'));
    // b "writes" 3 MiB: reserved, then on disk
    await lb.reserve(3 * MiB);
    writeFileSync(join(cl.homes, 'bob', 'f'), Buffer.alloc(3 * MiB, 1));
    assert.ok((await cl.row('bob')).reserved >= 3 * MiB);
    // b dies: its heartbeat stops (no clean-up)
    await b.lease.stop();
    const died = Date.now();
    let r = await cl.row('bob');
    while (r.reserved !== 0 && Date.now() - died < 10_000) {
      await sleep(20);
      r = await cl.row('bob');
    }
    const took = Date.now() - died;
    assert.equal(r.reserved, 0, 'grant not taken back');
    // the last renewal was at most a heartbeat (lease/5) before it died
    assert.ok(took <= lease * 1000 + (lease * 1000) / 5 + 1000, `took ${took} ms`);
    // used: corrected from the disk (3 MiB), not the whole grant (16 MiB)
    const until = Date.now() + 5000;
    while (r.used !== 3 * MiB && Date.now() < until) {
      await sleep(20);
      r = await cl.row('bob');
    }
    assert.equal(r.used, 3 * MiB);
    assert.equal(await cl.db.psql(`SELECT count(*) FROM jailsftp_nodes WHERE id = 'node2'`), '0\n');
    assert.equal(await cl.db.psql(`SELECT count(*) FROM jailsftp_grants`), '0\n');
    t.diagnostic(`dead node's grant back after ${took} ms (lease ${lease} s)`);
    void a;
  },
);

test(
  'the database away: a node stops granting at half its lease, then recovers by itself',
  { skip },
  async (t) => {
    const fx = fixture(t);
    const cl = await cluster(fx);
    const rec = await cl.addUser('cat', 100 * MiB);
    const lease = 8;
    const a = await cl.node({ leaseSeconds: lease, batchBytes: 8 * MiB });
    const l = await a.newLedger(rec, join(cl.homes, 'cat'));
    await l.reserve(1 * MiB); // a grant of 8 MiB: 7 MiB left locally
    await cl.db.stop();
    const down = Date.now();
    // within the grant, writes go on while the lease holds; then refused
    let fencedAfter = -1;
    while (Date.now() - down < lease * 1000) {
      try {
        await l.reserve(1024);
      } catch (e) {
        assert.match((e as Error).message, /quota unavailable/);
        fencedAfter = Date.now() - down;
        break;
      }
      await sleep(20);
    }
    assert.ok(fencedAfter >= 0, 'never fenced');
    assert.ok(fencedAfter <= (lease * 1000) / 2 + 100, `fenced after ${fencedAfter} ms`);
    assert.match(a.problem() ?? '', /lease/);
    await cl.db.start();
    // recovers: renewed (the lease had not passed) or registered again (it had)
    const until = Date.now() + 3 * lease * 1000;
    let ok = false;
    let ledger = l;
    while (!ok && Date.now() < until) {
      await sleep(200);
      try {
        await ledger.reserve(1024);
        ok = true;
      } catch (e) {
        if (/lost its lease/.test((e as Error).message)) {
          ledger.close?.();
          ledger = await a.newLedger(rec, join(cl.homes, 'cat')).catch(() => ledger);
        }
      }
    }
    assert.ok(ok, 'no recovery');
    assert.equal(a.problem(), null);
    t.diagnostic(`fenced ${fencedAfter} ms after the database went away (lease ${lease} s)`);
  },
);

test(
  'a node that lost its lease (stopped longer than the lease) ends its sessions, its writes fail, no overshoot',
  { skip },
  async (t) => {
    const fx = fixture(t);
    const cl = await cluster(fx);
    const Q = 10 * MiB;
    const rec = await cl.addUser('dan', Q);
    const lease = 2;
    const lostUsers: string[] = [];
    const a = await cl.node({ leaseSeconds: lease });
    const b = await cl.node({ leaseSeconds: lease, batchBytes: 4 * MiB });
    b.onLeaseLost = (users) => lostUsers.push(...users);
    const lb = await b.newLedger(rec, join(cl.homes, 'dan'));
    const la = await a.newLedger(rec, join(cl.homes, 'dan')); // a holds dan too
    await lb.reserve(MiB);
    // "SIGSTOP": no heartbeat for longer than the lease; a takes b's grant back
    await b.lease.stop();
    const until = Date.now() + 10_000;
    while ((await cl.row('dan')).reserved !== 0 && Date.now() < until) await sleep(50);
    assert.equal((await cl.row('dan')).reserved, 0);
    // b's local grant is useless: fenced
    assert.throws(() => lb.reserve(1024), /quota unavailable/);
    // "SIGCONT": the next heartbeat finds the lease gone
    await b.lease.beat();
    assert.deepEqual(lostUsers, ['dan']);
    assert.throws(() => lb.reserve(1024), /lost its lease/);
    assert.equal(b.problem(), null, 'registered again');
    // a new session on b works, and the whole cluster stays within the quota
    const l2 = await b.newLedger(rec, join(cl.homes, 'dan'));
    const got = await Promise.all([
      writeUntilRefused(l2, 64 * 1024),
      writeUntilRefused(la, 64 * 1024),
    ]);
    const r = await cl.row('dan');
    assert.ok(r.used + r.reserved <= Q, JSON.stringify(r));
    // b's lost grant (4 MiB, of which 1 MiB spent) counts as used while a live node holds dan
    assert.equal(got[0]! + got[1]!, Q - 4 * MiB, `granted ${got}`);
    const marked = `SELECT count(*) FROM jailsftp_grants WHERE node = '${MARK}'`;
    assert.equal(await cl.db.psql(marked), '1\n');
    // once nobody holds dan, used is set from the disk (nothing was written to it here)
    l2.close?.();
    la.close?.();
    const until2 = Date.now() + 5000;
    while ((await cl.db.psql(marked)) !== '0\n' && Date.now() < until2) await sleep(50);
    assert.deepEqual(await cl.row('dan'), { used: 0, reserved: 0, quota: Q });
  },
);

test(
  'statements per GiB written in 32 KiB writes (unlimited, and against a quota)',
  { skip },
  async (t) => {
    const fx = fixture(t);
    const cl = await cluster(fx);
    const a = await cl.node({});
    const figures: string[] = [];
    for (const [name, quota] of [
      ['eve', 0],
      ['fay', 1024 * MiB],
    ] as const) {
      const rec = await cl.addUser(name, quota);
      const l = await a.newLedger(rec, join(cl.homes, name));
      const before = a.statements;
      const size = 32 * 1024;
      for (let done = 0; done < 1024 * MiB; done += size) {
        const w = l.reserve(size);
        if (w) await w;
      }
      l.close?.();
      await a.ledgerOf(name)?.settled();
      const n = a.statements - before;
      const r = await cl.row(name);
      assert.equal(r.used, 1024 * MiB);
      assert.equal(r.reserved, 0);
      assert.ok(n <= 40, `${n} statements`);
      figures.push(`${name} (quota ${quota / MiB} MiB): ${n} statements`);
    }
    t.diagnostic(`per GiB: ${figures.join('; ')}`);
  },
);

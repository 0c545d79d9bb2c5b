// Shared limits end to end: three real jailsftpd nodes on one PostgreSQL store, driven by real
// clients (ssh2, OpenSSH sftp). Wrong passwords spread round-robin over the nodes lock the pair
// out on all of them (one node alone saw only a third of the tries); maxSessionsPerUser holds
// across the nodes, with the refusal text OpenSSH users see; a TOTP code used on one node is a
// replay on another; the sessions of a dead node hold their slots until its rows are forgotten.
// With PostgreSQL down an open session goes on and a new one is refused with a clear text; the
// ends the database missed are deleted when it returns, or when the node stops.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import ssh2 from 'ssh2';
import pg from 'pg';
import { TOTP, URI } from 'otpauth';
import { fixture, type FixtureServer } from './helpers/fixture.js';
import { startPostgres, type TestPostgres } from './helpers/postgres.js';
import { needs } from './helpers/tools.js';
import { sftpBatch, sftpKeyCode, sftpPassword } from './helpers/clients.js';
import { sleep } from './helpers/run.js';
import type { TestServer } from './helpers/server.js';
import { migrate } from '../server/store/schema.js';
import { PAIR_LOCK } from '../server/account/defence.js';
import { forgetNode } from '../server/store/pg-sessions.js';

function connect(
  srv: TestServer,
  user: string,
  password: string,
  localAddress = '127.0.0.1',
): { client: ssh2.Client; ready: Promise<boolean> } {
  const client = new ssh2.Client();
  const ready = new Promise<boolean>((res) => {
    client.on('ready', () => res(true)).on('error', () => res(false));
    client.on('close', () => res(false));
  });
  client.connect({
    host: srv.host,
    port: srv.port,
    localAddress,
    username: user,
    password,
    tryKeyboard: false,
    readyTimeout: 30_000,
  });
  return { client, ready };
}

/** Waits until an async condition holds. */
async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Runs a command (our exec: sha256sum) and collects its stderr and exit code. */
function exec(c: ssh2.Client, command: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((res, rej) =>
    c.exec(command, (e, ch) => {
      if (e) return rej(e);
      let stderr = '';
      let code: number | null = null;
      ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      ch.on('exit', (n: number | null) => (code = n));
      ch.on('close', () => res({ code, stderr }));
      ch.resume();
    }),
  );
}

function sftpOf(c: ssh2.Client): Promise<ssh2.SFTPWrapper> {
  return new Promise((res, rej) => c.sftp((e, s) => (e ? rej(e) : res(s))));
}

describe(
  'shared limits: three nodes on one PostgreSQL',
  { skip: needs('postgres', 'sftp', 'sshpass') },
  () => {
    const fx = fixture(undefined);
    let db: TestPostgres;
    let nodes: FixtureServer[] = [];
    let pool: pg.Pool;

    before(async () => {
      db = await startPostgres(fx);
      pool = new pg.Pool({ connectionString: db.url, max: 2 });
      pool.on('error', () => undefined);
      fx.defer(() => pool.end());
      const c = await pool.connect();
      await migrate(c);
      c.release();
      const config = { store: db.url, limits: { maxSessionsPerUser: 2 } };
      nodes = await Promise.all([0, 1, 2].map(() => fx.server({ config })));
    });

    test('wrong passwords round-robin over the nodes lock the pair out on all of them', async () => {
      const [a] = nodes as [FixtureServer];
      const u = a.addUser('victim', { password: 'right-horse' });
      // the right password works at first, on every node
      for (const n of nodes) {
        const ok = connect(n, u.name, u.password);
        assert.equal(await ok.ready, true, `node ${n.port}: refused before any failure`);
        ok.client.end();
      }
      // PAIR_LOCK wrong passwords at once, one connection each, round-robin: each node sees a third
      const tries = Array.from({ length: PAIR_LOCK }, (_, i) =>
        connect(nodes[i % 3]!, u.name, `wrong-${i}`),
      );
      fx.defer(() => tries.forEach((x) => x.client.end()));
      // every failure is counted (then logged) before its delayed answer: wait for the log lines
      const failed = (): number =>
        nodes.reduce(
          (sum, n) => sum + (n.output().match(/login\.failed user=victim /g) ?? []).length,
          0,
        );
      await until(async () => failed() >= PAIR_LOCK, 20_000, 'the failures counted');
      for (const x of tries) x.client.end();
      // the right password is now refused on every node (OpenSSH sees "Permission denied")
      const right = await Promise.all(nodes.map((n) => sftpPassword(n, u, 'pwd\n')));
      for (const [i, r] of right.entries()) {
        assert.notEqual(r.status, 0, `node ${i}: the locked pair logged in`);
        assert.match(r.stderr, /Permission denied/, `node ${i}: ${r.stderr}`);
      }
      // one count in the store: the attack and the locked tries (OpenSSH may try twice)
      const count = await db.psql(
        `SELECT failures FROM jailsftp_defence WHERE key = 'pair 127.0.0.1 victim'`,
      );
      assert.ok(Number(count) >= PAIR_LOCK + nodes.length, `pair count ${count}`);
      // the same user from another address is not locked out, on any node (one node after the
      // other: maxSessionsPerUser is 2 in this cluster)
      for (const [i, n] of nodes.entries()) {
        const r = await sftpPassword(n, u, 'pwd\n', { extra: ['-o', 'BindAddress=127.0.0.2'] });
        assert.equal(r.status, 0, `node ${i}: ${r.stderr}`);
      }
    });

    test('maxSessionsPerUser=2 across nodes: the third session, on any node, is refused with the text', async () => {
      const [a, b, c] = nodes as [FixtureServer, FixtureServer, FixtureServer];
      const u = a.addUser('sess', { password: 'pw-sess', key: true });
      const held: ssh2.Client[] = [];
      fx.defer(() => held.forEach((x) => x.end()));
      const open = async (n: TestServer): Promise<ssh2.SFTPWrapper> => {
        const x = connect(n, u.name, u.password);
        held.push(x.client);
        assert.equal(await x.ready, true);
        return sftpOf(x.client);
      };
      const s1 = await open(a);
      await open(b);
      for (const n of nodes) {
        const r = await sftpBatch(n, u, 'pwd\n');
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /jailsftpd: too many sessions for user sess \(limit 2\)/);
      }
      // a session that ends frees its slot for another node
      s1.end();
      await until(async () => (await sftpBatch(c, u, 'pwd\n')).status === 0, 5000, 'a free slot');
      // a node killed with sessions open holds its slots until its rows are forgotten (the lease
      // reclaim of another node does that)
      const rows = async (): Promise<number> =>
        Number(await db.psql(`SELECT count(*) FROM jailsftp_sessions WHERE username = 'sess'`));
      await until(async () => (await rows()) === 1, 5000, 'the batch session to end'); // b's
      await open(c);
      const bNode = (
        await db.psql(
          `SELECT node FROM jailsftp_sessions WHERE username = 'sess' GROUP BY node ORDER BY min(since) LIMIT 1`,
        )
      ).trim();
      await b.kill();
      const r = await sftpBatch(a, u, 'pwd\n');
      assert.match(
        r.stderr,
        /too many sessions for user sess \(limit 2\)/,
        'the dead node let go by itself?',
      );
      assert.equal(await forgetNode(pool, bNode), 1);
      const after = await sftpBatch(a, u, 'pwd\n');
      assert.equal(after.status, 0, after.stderr);
    });

    test('a TOTP code used on one node is refused as replayed on another', async () => {
      const [a, , c] = nodes as [FixtureServer, FixtureServer, FixtureServer];
      const u = a.addUser('otp', { key: true });
      const en = a.cli(['user', 'totp', 'otp', 'enable']);
      assert.equal(en.status, 0, en.stderr);
      const uri = en.stdout.split('\n').find((l) => l.startsWith('otpauth://totp/'))!;
      const otp = URI.parse(uri) as TOTP;
      // not too close to the end of a step: both logins must see the same code as valid
      const left = 30000 - (Date.now() % 30000);
      if (left < 8000) await sleep(left + 100);
      const code = otp.generate();
      const first = await sftpKeyCode(a, u, code);
      assert.equal(first.status, 0, first.stderr);
      const replay = await sftpKeyCode(c, u, code);
      assert.notEqual(replay.status, 0, 'the same code was accepted on another node');
      assert.match(replay.stderr, /Permission denied/);
    });

    test("PostgreSQL down: a connected user's open session goes on, a new one is refused with a clear text; both work once it returns", async () => {
      const [a] = nodes as [FixtureServer];
      const u = a.addUser('dbdown', { password: 'pw-dbdown' });
      const x = connect(a, u.name, u.password);
      fx.defer(() => x.client.end());
      assert.equal(await x.ready, true);
      const first = await sftpOf(x.client);
      await db.stop();
      try {
        const refused = await exec(x.client, 'sha256sum nothing');
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /jailsftpd: cannot count sessions now \(store unavailable\)/);
        const real = await new Promise<string | Error>((res) =>
          first.realpath('.', (e, p) => res(e ?? p)),
        );
        assert.equal(real, '/', 'the open session stopped');
        // its end cannot be recorded now: the node deletes its row when the database returns
        first.end();
        await sleep(300);
      } finally {
        await db.start();
      }
      // two sessions (the limit) on that node: the first one's slot was given back
      const counted = async (): Promise<boolean> => {
        const r = await exec(x.client, 'sha256sum nothing').catch(() => null);
        return r !== null && !r.stderr.includes('cannot count sessions');
      };
      await until(counted, 15_000, 'the node to count sessions again');
      await sleep(300); // the exec's slot goes back
      const two = await Promise.all([sftpOf(x.client), sftpOf(x.client)]);
      assert.equal(two.length, 2);
    });

    test('a node stopped gracefully leaves no session rows, also those whose end the database missed', async () => {
      const c = nodes[2]!;
      const u = c.addUser('leaver', { password: 'pw-leaver' });
      const x = connect(c, u.name, u.password);
      fx.defer(() => x.client.end());
      assert.equal(await x.ready, true);
      const s = await sftpOf(x.client);
      const rows = async (): Promise<string> =>
        (await db.psql(`SELECT count(*) FROM jailsftp_sessions WHERE username = 'leaver'`)).trim();
      assert.equal(await rows(), '1');
      await db.stop();
      try {
        s.end(); // its end cannot be recorded
        await sleep(500);
      } finally {
        await db.start();
      }
      // the row of the missed end is still there, unless the node's heartbeat already retried the
      // delete (it does once the database is back): either way none may be left after the stop
      const missed = await rows();
      assert.ok(missed === '1' || missed === '0', missed);
      if (missed === '0') process.stdout.write('# the heartbeat deleted the missed end first\n');
      assert.equal(await c.stop(), 0);
      assert.equal(await rows(), '0', 'left behind by the stopped node');
    });
  },
);

// A hung network filesystem under one home must not stall other users. alice's and carol's homes
// live on a real FUSE filesystem (test/py/slowfs.py) whose `hung` directories stop answering; the
// server's default homesIo `auto` puts their calls in the pool (bob's, on a local disk, stay
// synchronous: the log says which each home got). While
// they hang, alice works in hers (list, stat, download) from several connections, carol logs in
// (the login scans her home) and dave, whose home itself is in a hung directory, logs in (auto's
// statfs of his home does not answer: pool) and
// (the login scans her home). bob, on a healthy disk, STATs in a loop and uploads: his worst STAT
// latency over the whole window must stay small, his uploads land byte-identical, alice's queued
// requests answer "filesystem not responding", and after the release everyone works again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import SftpClient from 'ssh2-sftp-client';
import { fixture } from './helpers/fixture.js';
import { mountSlowFs } from './helpers/slowfs.js';
import type { TestServer } from './helpers/server.js';
import { needs } from './helpers/tools.js';

/** how long the directories hang (longer than the server's queue bound of 10 s) */
const WINDOW_MS = 12_000;
/** the worst STAT latency bob may see meanwhile */
const BOUND_MS = 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function connect(srv: TestServer, user: string, password: string): Promise<SftpClient> {
  const c = new SftpClient();
  await c.connect({
    host: srv.host,
    port: srv.port,
    username: user,
    password,
    readyTimeout: 60000,
  });
  return c;
}

/**
 * What an operation came to: 'ok' or its error message. (ssh2-sftp-client words any failed stat
 * "No such file"; LIST shows the server's own text.)
 */
function outcome(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: unknown) => (e as Error).message,
  );
}

test(
  'a hung home does not stall other users',
  { skip: needs('fusepy'), timeout: 120_000 },
  async (t) => {
    const fx = fixture(t);
    const slow = await mountSlowFs(fx);
    // (under JAILSFTP_TEST_HOMES_IO=sync this test must fail: bob stalls with alice's home)
    const srv = await fx.server({ users: { bob: { home: true } } });
    const pw: Record<string, string> = { bob: srv.users.bob.password };
    const homeOf = (name: string) => join(slow.mnt, name === 'dave' ? 'hung/dave' : name);
    for (const name of ['alice', 'carol', 'dave']) {
      mkdirSync(join(slow.src, name, 'hung'), { recursive: true });
      mkdirSync(join(slow.src, 'hung', name), { recursive: true });
      pw[name] = `pw-${name}-secret`;
      const r = srv.cli(
        ['user', 'add', name, '--password-stdin', '--home', homeOf(name)],
        pw[name] + '\n',
      );
      assert.equal(r.status, 0, r.stderr);
    }
    const file = randomBytes(1 << 20);
    writeFileSync(join(slow.src, 'alice', 'hung', 'f.bin'), file);
    writeFileSync(join(slow.src, 'alice', 'ok.txt'), 'fine\n');
    writeFileSync(join(slow.src, 'carol', 'hung', 'x'), 'x');
    writeFileSync(join(srv.homesDir, 'bob', 'b.txt'), 'b\n');

    const bob = await connect(srv, 'bob', pw.bob!);
    const alices = await Promise.all(
      [1, 2, 3, 4, 5, 6, 7].map(() => connect(srv, 'alice', pw.alice!)),
    );
    fx.defer(() => Promise.all([bob, ...alices].map((c) => c.end().catch(() => undefined))));

    // bob: STAT in a loop (latencies kept with their start times), and uploads one after the other
    let stop = false;
    const stats: { at: number; ms: number }[] = [];
    const statLoop = (async () => {
      while (!stop) {
        const t0 = performance.now();
        const st = await bob.stat('/b.txt');
        stats.push({ at: t0, ms: performance.now() - t0 });
        assert.equal(st.size, 2);
      }
    })();
    let uploads = 0;
    const uploadLoop = (async () => {
      while (!stop) {
        const data = randomBytes(256 * 1024);
        const name = `up-${uploads}.bin`;
        await bob.put(data, `/${name}`);
        assert.equal(sha(readFileSync(join(srv.homesDir, 'bob', name))), sha(data), name);
        uploads++;
      }
    })();
    await sleep(500);

    slow.hang();
    const from = performance.now();
    const aliceOps = [
      outcome(alices[0]!.list('/hung')),
      outcome(alices[1]!.stat('/hung/f.bin')),
      outcome(alices[2]!.get('/hung/f.bin')),
      outcome(alices[3]!.stat('/hung')),
      outcome(alices[4]!.list('/hung')),
      outcome(alices[5]!.stat('/hung/f.bin')),
      outcome(alices[6]!.list('/hung')),
    ];
    // carol's login scans her home, and so meets the hung directory
    const carolLogin = outcome(connect(srv, 'carol', pw.carol!).then((c) => c.end()));
    // dave's home does not answer at all: a refusal or a late login, and nobody else waits
    const daveLogin = outcome(connect(srv, 'dave', pw.dave!).then((c) => c.end()));
    await sleep(WINDOW_MS);
    const to = performance.now();
    slow.release();

    const answered = await Promise.all(aliceOps);
    const carol = await carolLogin;
    const dave = await daveLogin;
    stop = true;
    await Promise.all([statLoop, uploadLoop]);
    const during = stats.filter((s) => s.at >= from && s.at < to);
    // a STAT that started before the window and ended in it counts too
    const worst = Math.max(
      ...stats.filter((s) => s.at + s.ms >= from && s.at < to).map((s) => s.ms),
    );
    t.diagnostic(
      `bob during ${WINDOW_MS} ms of hang: ${during.length} STATs, worst ${worst.toFixed(1)} ms, ` +
        `${uploads} uploads; alice: ${answered.join(' | ')}; carol's login: ${carol}; dave's: ${dave}`,
    );
    assert.ok(worst < BOUND_MS, `bob's worst STAT took ${worst.toFixed(0)} ms`);
    assert.ok(during.length > 100, `bob made only ${during.length} STATs`);
    assert.ok(uploads >= 5, `bob uploaded ${uploads} files`);
    assert.ok(
      answered.some((a) => /filesystem not responding/.test(a)),
      `alice's queued requests: ${answered.join(' | ')}`,
    );

    // after the release: alice and carol work again, the server is alive
    assert.equal(srv.proc.exitCode, null);
    // auto mode chose by filesystem: FUSE homes in the pool, bob's local home synchronous
    if (!process.env.JAILSFTP_TEST_HOMES_IO) {
      const io = (home: string) =>
        srv
          .output()
          .split('\n')
          .find((l) => l.includes(' home.io ') && l.includes(` home=${home} `))
          ?.match(/ io=(\w+)/)?.[1];
      assert.equal(io(join(slow.mnt, 'alice')), 'pool', srv.output());
      assert.equal(io(join(srv.homesDir, 'bob')), 'sync', srv.output());
      assert.equal(io(homeOf('dave')), 'pool', srv.output());
      assert.match(
        srv.output(),
        /home\.io home=\S+\/hung\/dave io=pool why="statfs did not answer"/,
      );
    }
    const names = (await alices[0]!.list('/hung')).map((e) => e.name);
    assert.deepEqual(names, ['f.bin']);
    assert.equal(sha((await alices[1]!.get('/hung/f.bin')) as Buffer), sha(file));
    const carolAgain = await connect(srv, 'carol', pw.carol!);
    assert.deepEqual(
      (await carolAgain.list('/hung')).map((e) => e.name),
      ['x'],
    );
    await carolAgain.end();
  },
);

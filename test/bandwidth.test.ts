// Bandwidth per user (issue 13) with real clients: two OpenSSH sftp sessions of a user limited to
// 4 MiB/s share that rate (uploads set per user, downloads from the config default) while an
// unlimited user transfers at full speed meanwhile; a rate changed with `user set` reaches a running
// ssh2 transfer within a second; a client that floods WRITEs is held back by flow control (the
// server never buffers what the rate does not let through).
import test, { before } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { SFTPWrapper } from 'ssh2';
import { fixture, type FixtureServer } from './helpers/fixture.js';
import { sftpBatch } from './helpers/clients.js';
import { connect, openSftp } from './helpers/channels.js';
import { randomFile, sha256File } from './helpers/files.js';
import { rawSftp, rss, F } from './helpers/attack.js';
import { run, sleep } from './helpers/proc.js';
import { CLI } from './helpers/server.js';
import { needs } from './helpers/tools.js';

const MiB = 1024 * 1024;
const RATE = 4 * MiB;
/** two sessions of 8 MiB at 4 MiB/s together: 16 MiB, less the 1 MiB burst, about 4 s */
const WINDOW = [3.2, 6] as const;
/** MiB/s an unlimited user must exceed meanwhile: well above the limit, even on a loaded machine */
const FAST = 2.5 * 4;

type Users = 'alice' | 'bob' | 'carol';
const fx = fixture();
let srv: FixtureServer<Users>;
let local: string;

/** Figures for the report, printed at the end. */
const measured: string[] = [];
const mibps = (bytes: number, s: number): string => `${(bytes / MiB / s).toFixed(1)} MiB/s`;

before(async () => {
  srv = await fx.server<Users>({
    users: {
      alice: { key: true, home: true },
      bob: { key: true, home: true },
      carol: { key: true, home: true },
    },
    // the default for everyone: 4 MiB/s down, unlimited up
    config: { rates: { upload: 0, download: RATE } },
  });
  local = fx.tempDir();
  const set = (args: string[]): void => {
    const r = srv.cli(['user', 'set', ...args]);
    assert.equal(r.status, 0, r.stderr);
  };
  set(['alice', '--upload-rate', '4M']);
  set(['bob', '--download-rate', '0']); // unlimited: the user's own 0 wins over the default
  set(['carol', '--upload-rate', '1M']);
});

test.after(() => console.log(`# bandwidth figures: ${measured.join('; ')}`));

/** Runs sftp batch commands as a user; resolves with the seconds it took. */
async function timedSftp(u: keyof FixtureServer<Users>['users'], commands: string) {
  const t0 = performance.now();
  const r = await sftpBatch(srv, srv.users[u], commands, { cwd: local, timeoutMs: 30_000 });
  const s = (performance.now() - t0) / 1000;
  assert.equal(r.status, 0, `${u}: ${r.stderr}`);
  return s;
}

test('user show prints the effective rates and where they come from', () => {
  const show = (n: string): string => srv.cli(['user', 'show', n]).stdout;
  assert.match(show('alice'), /upload rate: +4 MiB\/s \(4194304 bytes\/s\)\n/);
  assert.match(show('alice'), /download rate: +4 MiB\/s \(4194304 bytes\/s\), the default\n/);
  assert.match(show('bob'), /upload rate: +unlimited, the default\n/);
  assert.match(show('bob'), /download rate: +unlimited\n/);
  const bad = srv.cli(['user', 'set', 'bob', '--upload-rate', 'fast']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--upload-rate: invalid size "fast"/);
});

test(
  'upload: two sessions share the user rate; an unlimited user goes at full speed meanwhile',
  {
    skip: needs('sftp'),
    timeout: 60_000,
  },
  async () => {
    const sums = [1, 2].map((i) => randomFile(join(local, `up${i}.bin`), 8 * MiB));
    const bobSum = randomFile(join(local, 'bob-up.bin'), 32 * MiB);
    const a = [1, 2].map((i) => timedSftp('alice', `put up${i}.bin\n`));
    await sleep(500); // alice's sessions are under way
    const bobS = await timedSftp('bob', 'put bob-up.bin\n');
    const [s1, s2] = await Promise.all(a);
    const both = Math.max(s1!, s2!);
    measured.push(
      `upload limited 4 MiB/s: 2 x 8 MiB in ${s1!.toFixed(2)} and ${s2!.toFixed(2)} s (${mibps(16 * MiB, both)})`,
      `unlimited upload meanwhile ${mibps(32 * MiB, bobS)}`,
    );
    assert.ok(
      both >= WINDOW[0] && both <= WINDOW[1],
      `alice: ${s1!.toFixed(2)}, ${s2!.toFixed(2)} s`,
    );
    assert.ok(32 / bobS > FAST, `bob (unlimited) uploaded at ${mibps(32 * MiB, bobS)}`);
    for (const [i, sum] of sums.entries())
      assert.equal(sha256File(join(srv.users.alice.home, `up${i + 1}.bin`)), sum);
    assert.equal(sha256File(join(srv.users.bob.home, 'bob-up.bin')), bobSum);
  },
);

test(
  'download: the config default limits a user; a user with their own 0 is unlimited',
  {
    skip: needs('sftp'),
    timeout: 60_000,
  },
  async () => {
    const sums = [1, 2].map((i) => randomFile(join(srv.users.alice.home, `down${i}.bin`), 8 * MiB));
    const bobSum = randomFile(join(srv.users.bob.home, 'bob-down.bin'), 32 * MiB);
    const a = [1, 2].map((i) => timedSftp('alice', `get down${i}.bin\n`));
    await sleep(500);
    const bobS = await timedSftp('bob', 'get bob-down.bin\n');
    const [s1, s2] = await Promise.all(a);
    const both = Math.max(s1!, s2!);
    measured.push(
      `download limited 4 MiB/s: 2 x 8 MiB in ${s1!.toFixed(2)} and ${s2!.toFixed(2)} s (${mibps(16 * MiB, both)})`,
      `unlimited download meanwhile ${mibps(32 * MiB, bobS)}`,
    );
    assert.ok(
      both >= WINDOW[0] && both <= WINDOW[1],
      `alice: ${s1!.toFixed(2)}, ${s2!.toFixed(2)} s`,
    );
    assert.ok(32 / bobS > FAST, `bob (unlimited) downloaded at ${mibps(32 * MiB, bobS)}`);
    for (const [i, sum] of sums.entries())
      assert.equal(sha256File(join(local, `down${i + 1}.bin`)), sum);
    assert.equal(sha256File(join(local, 'bob-down.bin')), bobSum);
  },
);

test(
  'a client flooding WRITEs is held back by flow control, not buffered',
  {
    timeout: 60_000,
  },
  async (t) => {
    const raw = await rawSftp(srv, srv.users.carol);
    t.after(() => raw.drop());
    const h = await raw.openOk('flood.bin', F.WRITE | F.CREAT | F.TRUNC);
    const chunk = Buffer.alloc(32 * 1024, 7);
    const rss0 = rss(srv.proc.pid!);
    let sent = 0;
    let acked = 0;
    let stop = false;
    const pump = (async () => {
      for (let off = 0; !stop; off += chunk.length) {
        void raw.write(h, off, chunk).then((r) => {
          if (r.code === 0) acked += chunk.length;
        });
        sent += chunk.length;
        // the channel takes what SSH flow control lets through: wait when it says so
        if (!raw.ch.writableNeedDrain) continue;
        await new Promise((res) => raw.ch.once('drain', res));
      }
    })();
    await sleep(1500);
    const inFlight1 = sent - acked;
    await sleep(1500);
    const inFlight2 = sent - acked;
    stop = true;
    const grew = rss(srv.proc.pid!) - rss0;
    measured.push(
      `flood at 1 MiB/s: ${mibps(acked, 3)} written, in flight ${(inFlight1 / MiB).toFixed(1)} ` +
        `then ${(inFlight2 / MiB).toFixed(1)} MiB, server RSS +${(grew / MiB).toFixed(1)} MiB`,
    );
    assert.ok(acked < 5 * MiB, `at 1 MiB/s for 3 s the server wrote ${acked} bytes`);
    // what the client got rid of and the server has not written: bounded, and not growing
    assert.ok(inFlight2 < 24 * MiB, `in flight after 3 s: ${inFlight2} bytes`);
    assert.ok(inFlight2 < inFlight1 + 4 * MiB, `in flight grew ${inFlight1} -> ${inFlight2}`);
    assert.ok(grew < 64 * MiB, `server memory grew ${grew} bytes`);
    const size = statSync(join(srv.users.carol.home, 'flood.bin')).size;
    assert.ok(size <= acked + 2 * MiB, `on disk ${size} bytes`);
    raw.drop();
    await Promise.race([pump, raw.done]); // the last wait for 'drain' ends with the connection
  },
);

function fastPut(sftp: SFTPWrapper, from: string, to: string, step: (n: number) => void) {
  return new Promise<void>((res, rej) =>
    sftp.fastPut(from, to, { step: (total) => step(total) }, (e) => (e ? rej(e) : res())),
  );
}

test(
  'a rate changed with user set reaches a running transfer within a second',
  {
    timeout: 60_000,
  },
  async (t) => {
    const size = 12 * MiB;
    const sum = randomFile(join(local, 'live.bin'), size);
    const c = await connect(srv, srv.users.carol);
    t.after(() => c.end());
    const sftp = await openSftp(c);
    let done = 0;
    const t0 = performance.now();
    const put = fastPut(sftp, join(local, 'live.bin'), 'live.bin', (n) => (done = n));
    await sleep(2000);
    const before = done;
    // at 1 MiB/s: the 256 KiB burst and 2 s; well below what an unlimited upload does in 2 s
    assert.ok(before < 3 * MiB, `limited to 1 MiB/s, carol had sent ${before} bytes in 2 s`);
    // the CLI runs as its own process (not spawnSync: this process is the client and must go on)
    const r = await run(process.execPath, [
      CLI,
      'user',
      'set',
      'carol',
      '--upload-rate',
      '8M',
      '--config',
      srv.configFile,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const changed = performance.now();
    const atChange = done;
    await put;
    const after = (performance.now() - changed) / 1000;
    measured.push(
      `live change: ${mibps(before, (changed - t0) / 1000)} at 1M, then the rest at ` +
        `${mibps(size - atChange, after)} after set 8M`,
    );
    // the rest: 8+ s at the old rate, about 1 s at 8 MiB/s plus up to a second to apply
    const rest = size - atChange;
    assert.ok(rest > 6 * MiB, `only ${rest} bytes were left at the change`);
    assert.ok(after < 3.5, `the last ${rest} bytes took ${after.toFixed(2)} s after the change`);
    assert.equal(sha256File(join(srv.users.carol.home, 'live.bin')), sum);
  },
);

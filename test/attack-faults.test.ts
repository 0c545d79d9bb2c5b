// Issue 6, faults: a full disk, SIGTERM during a transfer, SIGKILL during an upload (then resume),
// broken user records and homes. Data acknowledged is data on disk; the ledger stays right.
import test from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { Status } from '../common/wire.js';
import { fixture, useServer } from './helpers/fixture.js';
import type { TestServer } from './helpers/server.js';
import { F, freshLogin, MB, rawSftp, T, tryLogin, type Raw } from './helpers/attack.js';
import { sha256, usage } from './helpers/files.js';
import { sleep } from './helpers/run.js';

const CHUNK = 32 * 1024;

/** Writes data at offsets from `start`, `depth` writes in flight; returns acknowledged offsets. */
async function upload(
  r: Raw,
  h: Buffer,
  data: Buffer,
  opts: { start?: number; depth?: number; pace?: number; onChunk?: (done: number) => void } = {},
): Promise<{ acked: number[]; errors: string[] }> {
  const acked: number[] = [];
  const errors: string[] = [];
  let next = opts.start ?? 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < data.length) {
      const off = next;
      next += CHUNK;
      const rep = await r.write(h, off, data.subarray(off, off + CHUNK));
      if (rep.type === -1) return;
      if (rep.code === Status.OK) acked.push(off);
      else errors.push(rep.msg!);
      opts.onChunk?.(++done);
      if (opts.pace) await sleep(opts.pace);
    }
  };
  await Promise.all(Array.from({ length: opts.depth ?? 8 }, worker));
  return { acked, errors };
}

function exitOf(srv: TestServer): Promise<number | null> {
  return new Promise((res) => {
    if (srv.proc.exitCode !== null) return res(srv.proc.exitCode);
    srv.proc.once('exit', (code) => res(code));
  });
}

function refusesConnections(srv: TestServer): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host: srv.host, port: srv.port });
    s.once('connect', () => {
      s.destroy();
      res(false);
    });
    s.once('error', () => res(true));
  });
}

test('disk full (8 MiB tmpfs as the homes root)', { timeout: 120_000 }, async (t) => {
  const fx = fixture(t);
  const mnt = fx.tempDir('jailsftp-tmpfs-');
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
  if (m.status !== 0) return t.skip(`cannot mount tmpfs: ${m.stderr}`);
  fx.defer(() => spawnSync('umount', [mnt]));
  const srv = await fx.server({ config: { homes: mnt } });
  const filler = srv.addUser('filler');
  const quser = srv.addUser('quser', { quota: 4 * MB });
  // filler leaves about 2 MiB of the disk free
  const f = await rawSftp(srv, filler);
  const fh = await f.openOk('/fill', F.WRITE | F.CREAT);
  const fill = await upload(f, fh, randomBytes(6 * MB));
  assert.deepEqual(fill.errors, []);
  await f.close(fh);
  const q = await rawSftp(srv, quser);
  const keep = randomBytes(100_000);
  const kh = await q.openOk('/keep', F.WRITE | F.CREAT);
  await upload(q, kh, keep);
  await q.close(kh);
  // the upload runs into the full disk
  const data = randomBytes(3 * MB);
  const h = await q.openOk('/big', F.WRITE | F.CREAT);
  const up = await upload(q, h, data, { depth: 1 });
  assert.ok(up.errors.length > 0, 'the disk never filled');
  assert.ok(
    up.errors.every((e) => e === 'No space left on device'),
    `messages: ${[...new Set(up.errors)].join(', ')}`,
  );
  assert.equal((await q.close(h)).code, Status.OK);
  // what was acknowledged is on disk; the other file is intact
  const onDisk = readFileSync(join(mnt, 'quser', 'big'));
  for (const off of up.acked)
    assert.ok(
      onDisk.subarray(off, off + CHUNK).equals(data.subarray(off, off + CHUNK)),
      `chunk ${off}`,
    );
  assert.equal(sha256(readFileSync(join(mnt, 'quser', 'keep'))), sha256(keep));
  // free the disk: the ledger must now equal what quser has on disk
  assert.equal((await f.path(T.REMOVE, '/fill')).code, Status.OK);
  const used = usage(join(mnt, 'quser'));
  assert.equal(await q.free(), Math.floor((4 * MB - used) / 1024) * 1024, 'ledger after ENOSPC');
  t.diagnostic(
    `disk full: ${up.acked.length} chunks acknowledged, ${up.errors.length} refused; ${used} B used`,
  );
  // and a write fits again
  const h2 = await q.openOk('/after', F.WRITE | F.CREAT);
  assert.deepEqual((await upload(q, h2, randomBytes(CHUNK * 4))).errors, []);
  await q.close(h2);
  await q.end();
  await f.end();
});

test(
  'SIGTERM mid-transfer: stops accepting, lets it finish, exits 0',
  { timeout: 120_000 },
  async (t) => {
    const srv = await useServer(t, { config: { shutdownGrace: 20 } });
    const u = srv.addUser('u');
    const r = await rawSftp(srv, u);
    const data = randomBytes(8 * MB);
    const h = await r.openOk('/up', F.WRITE | F.CREAT);
    let signalled = false;
    const exited = exitOf(srv);
    const up = upload(r, h, data, {
      depth: 4,
      pace: 5,
      onChunk: (n) => {
        if (n === 20 && !signalled) {
          signalled = true;
          srv.proc.kill('SIGTERM');
        }
      },
    });
    await sleep(300);
    const res = await up;
    assert.ok(signalled);
    assert.ok(await refusesConnections(srv), 'still accepting after SIGTERM');
    assert.deepEqual(res.errors, []);
    assert.equal((await r.close(h)).code, Status.OK);
    assert.equal(sha256(readFileSync(join(u.home, 'up'))), sha256(data));
    await r.end();
    assert.equal(await exited, 0);
  },
);

test(
  'SIGTERM with a stalled client: handles closed after the grace, data flushed',
  { timeout: 60_000 },
  async (t) => {
    const srv = await useServer(t, { config: { shutdownGrace: 2 } });
    const u = srv.addUser('u');
    const r = await rawSftp(srv, u);
    const h = await r.openOk('/held', F.WRITE | F.CREAT);
    const data = randomBytes(CHUNK * 10);
    assert.deepEqual((await upload(r, h, data)).errors, []);
    const exited = exitOf(srv);
    const t0 = performance.now();
    srv.proc.kill('SIGTERM');
    assert.equal(await exited, 0);
    const took = performance.now() - t0;
    assert.ok(took > 1500 && took < 6000, `exited after ${took} ms`);
    assert.equal(sha256(readFileSync(join(u.home, 'held'))), sha256(data));
    await r.done;
  },
);

test(
  'SIGKILL mid-upload: the partial file resumes to a byte-identical result',
  { timeout: 120_000 },
  async (t) => {
    const srv = await useServer(t);
    const u = srv.addUser('u');
    const data = randomBytes(6 * MB);
    const r = await rawSftp(srv, u);
    const h = await r.openOk('/file', F.WRITE | F.CREAT);
    let killed = false;
    await upload(r, h, data, {
      depth: 1,
      onChunk: (n) => {
        if (n === 60 && !killed) {
          killed = true;
          void srv.kill();
        }
      },
    });
    await srv.kill();
    await r.done;
    const partial = statSync(join(u.home, 'file')).size;
    assert.ok(partial > 0 && partial < data.length, `partial size ${partial}`);
    assert.ok(
      readFileSync(join(u.home, 'file')).equals(data.subarray(0, partial)),
      'prefix intact',
    );
    const srv2 = await useServer(t, { dir: srv.dir });
    const r2 = await rawSftp(srv2, u);
    const st = await r2.path(T.STAT, '/file');
    assert.equal(st.size, partial);
    const h2 = await r2.openOk('/file', F.WRITE);
    assert.deepEqual((await upload(r2, h2, data, { start: partial })).errors, []);
    await r2.close(h2);
    await r2.end();
    assert.equal(sha256(readFileSync(join(u.home, 'file'))), sha256(data));
    t.diagnostic(`SIGKILL left ${partial} of ${data.length} bytes; resumed to identical`);
  },
);

test(
  'broken user records and homes refuse that user only, with a log line',
  { timeout: 120_000 },
  async (t) => {
    const srv = await useServer(t);
    const good = srv.addUser('good');
    const users = ['corrupt', 'invalid', 'unreadable', 'homefile', 'nohome'].map((n) =>
      srv.addUser(n),
    );
    const rec = (n: string): string => join(srv.usersDir, `${n}.json`);
    writeFileSync(rec('corrupt'), '{"name": "corrupt", "keys": [');
    writeFileSync(
      rec('invalid'),
      JSON.stringify({ name: 'someone-else', keys: 'x', quota: 'lots' }),
    );
    rmSync(rec('unreadable'));
    mkdirSync(rec('unreadable')); // reading it fails with EISDIR (root reads any mode)
    mkdirSync(srv.homesDir, { recursive: true });
    writeFileSync(join(srv.homesDir, 'homefile'), 'not a directory');
    rmSync(join(srv.homesDir, 'nohome'), { recursive: true, force: true });
    for (const u of users.slice(0, 4)) {
      const r = await tryLogin(srv, u.name, u.password);
      assert.equal(r.ok, false, `${u.name} logged in`);
      await freshLogin(srv, good);
    }
    const out = srv.output();
    for (const n of ['corrupt', 'invalid', 'unreadable'])
      assert.match(out, new RegExp(`user\\.record_error user=${n} `), `no log line for ${n}`);
    assert.match(out, /login\.refused user=homefile .*not a directory/);
    assert.equal(readFileSync(join(srv.homesDir, 'homefile'), 'utf8'), 'not a directory');
    // a missing home is created on demand
    const nohome = users[4]!;
    await freshLogin(srv, nohome);
    assert.ok(statSync(nohome.home).isDirectory());
  },
);

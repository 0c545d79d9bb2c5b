// A PostgreSQL that stops answering without closing anything (its processes stopped: a hung
// database host), as opposed to one that refuses connections (store-postgres.test.ts). Nothing of
// the node may wait on it without a bound: new logins are refused with the store's message within
// the pool's timeouts, /healthz says 503, an open session's upload is refused cleanly (no grant) and
// the session stays, the node does not spin, and everything comes back when the database answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture } from './helpers/fixture.js';
import { sha256 } from './helpers/files.js';
import { startPostgres } from './helpers/postgres.js';
import { needs } from './helpers/tools.js';
import { CLI } from './helpers/server.js';
import { freePort, run, sleep, waitFor, type Run } from './helpers/proc.js';
import { sftpPassword } from './helpers/clients.js';
import { healthz, OpenSftp } from './helpers/open-sftp.js';
import { readStat } from './helpers/procfs.js';

test(
  'postgres: a database that stops answering: logins refused within the timeouts, the open session stays, all back after',
  { skip: needs('postgres') },
  async (t) => {
    const fx = fixture(t);
    const db = await startPostgres(fx);
    const init = await run(process.execPath, [CLI, 'store', 'init', '--store', db.url]);
    assert.equal(init.status, 0, init.stderr);
    const admin = `127.0.0.1:${await freePort()}`;
    // the longest lease: the freeze below stays inside it, so the node keeps its sessions after
    const node = await fx.server({
      config: { store: db.url, adminListen: admin, cluster: { leaseSeconds: 30 } },
    });
    const max = node.addUser('max', { key: true, quota: '2M' });
    const lou = node.addUser('lou', { password: 'lou-pw', quota: '1M' });
    const work = fx.tempDir('jailsftp-pg-hang-');
    const data = randomBytes(200 * 1024);
    writeFileSync(join(work, 'up.bin'), data);
    const s = new OpenSftp(node, max);
    fx.defer(() => s.close());
    await s.cmd(`put ${join(work, 'up.bin')} before.bin`, /sftp> put/);
    // sftp echoes a command when it starts it: the listing's line says the upload is over
    await s.cmd('ls -l before.bin', /^-rw\S* .* 204800 .* before\.bin$/m);
    assert.equal(await healthz(admin), 200);
    // the node gives back the unspent grant shortly after the file closed: the upload below needs
    // a new grant then (with a grant left, it would go through from it, as running transfers do)
    const reserved = (): Promise<string> =>
      db.psql(`SELECT reserved FROM jailsftp_users WHERE name = 'max'`).then((r) => r.trim());
    for (const t1 = Date.now(); (await reserved()) !== '0' && Date.now() - t1 < 10000;)
      await sleep(100);
    assert.equal(await reserved(), '0', 'the grant was not given back');

    db.freeze();
    fx.defer(() => db.thaw());
    const frozenAt = Date.now();
    // a new login: refused with the store's reason, within the pool's timeouts (no hang)
    const refused: Run = await sftpPassword(node, lou, 'ls\n', { cwd: work, timeoutMs: 30000 });
    const loginMs = Date.now() - frozenAt;
    assert.notEqual(refused.status, 0, 'a login went through while the database was frozen');
    assert.ok(loginMs < 12000, `the refused login took ${loginMs} ms`);
    await waitFor(
      () => /login\.store_unavailable.*user=lou/.test(node.output()),
      3000,
      'the login.store_unavailable log line',
    );
    // /healthz turns 503
    while ((await healthz(admin)) !== 503 && Date.now() - frozenAt < 15000) await sleep(100);
    assert.equal(await healthz(admin), 503);
    const healthMs = Date.now() - frozenAt;
    // the open session goes on; a new upload needs a grant: refused cleanly within the timeouts
    const t0 = Date.now();
    const failed = await s
      .cmd(`-put ${join(work, 'up.bin')} during.bin`, /Failure/, 15000)
      .catch((e: Error) => {
        throw new Error(`${e.message}\nsftp: ${s.out}\nnode: ${node.output().slice(-4000)}`);
      });
    assert.match(failed, /write remote "\/during\.bin": Failure/);
    const putMs = Date.now() - t0;
    await s.cmd('ls -l', /before\.bin/);
    assert.ok(s.running);
    // waiting costs nothing: the node does not spin while nothing answers
    const before = readStat(node.proc.pid!)?.cpuTicks ?? 0;
    await sleep(2000);
    const ticks = (readStat(node.proc.pid!)?.cpuTicks ?? 0) - before;
    assert.ok(ticks < 40, `${ticks / 100} s of CPU in 2 s while the database was frozen`);
    const frozenMs = Date.now() - frozenAt;
    assert.ok(frozenMs < 28000, `frozen for ${frozenMs} ms: longer than the lease allows here`);
    t.diagnostic(
      `frozen ${frozenMs} ms: login refused after ${loginMs} ms, /healthz 503 after ${healthMs} ms, ` +
        `upload refused after ${putMs} ms`,
    );

    db.thaw();
    const thawedAt = Date.now();
    let back: Run | undefined;
    while (Date.now() - thawedAt < 15000) {
      back = await sftpPassword(node, lou, 'ls\n', { cwd: work });
      if (back.status === 0) break;
      await sleep(200);
    }
    assert.equal(back?.status, 0, back?.stderr);
    while ((await healthz(admin)) !== 200 && Date.now() - thawedAt < 15000) await sleep(100);
    assert.equal(await healthz(admin), 200);
    // the session that waited through it uploads again, byte for byte
    await s.cmd(`put ${join(work, 'up.bin')} during.bin`, /sftp> put/);
    await s.cmd('ls -l during.bin', /^-rw\S* .* during\.bin$/m);
    assert.equal(sha256(readFileSync(join(node.homesDir, 'max', 'during.bin'))), sha256(data));
    assert.ok(s.running, 'the open session was ended');
    t.diagnostic(`logins and uploads work again ${Date.now() - thawedAt} ms after the thaw`);
  },
);

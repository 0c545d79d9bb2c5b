// The exact quota when nodes fail (cluster mode, three real nodes on one PostgreSQL and one shared
// homes directory): a node killed mid-upload (its reservation comes back within the lease time,
// `used` matches the disk, the upload resumes through another node to a byte-identical file); a
// node stopped for longer than its lease (its writes fail after SIGCONT, nothing passes the quota);
// PostgreSQL restarted mid-transfer (the transfer completes or stops cleanly, within the quota,
// and the node recovers by itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture } from './helpers/fixture.js';
import { sha256 } from './helpers/files.js';
import { startCluster } from './helpers/cluster.js';
import { needs } from './helpers/tools.js';
import { sftpBatch, sshOpts } from './helpers/clients.js';
import { sleep, waitFor } from './helpers/run.js';
import type { TestServer, TestUser } from './helpers/server.js';

const MiB = 1024 * 1024;
const skip = needs('postgres');

function size(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** Waits until an async condition holds (checked every 50 ms), or throws after timeoutMs. */
async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** OpenSSH sftp kept open: commands on stdin, everything it prints collected. */
class OpenSftp {
  out = '';
  ended = false;
  readonly proc: ChildProcess;
  constructor(srv: TestServer, u: TestUser, cwd: string) {
    this.proc = spawn('sftp', [...sshOpts(srv, u), '-b', '-', `${u.name}@${srv.host}`], { cwd });
    const add = (d: Buffer): void => void (this.out += d.toString());
    this.proc.stdout!.on('data', add);
    this.proc.stderr!.on('data', add);
    this.proc.stdin!.on('error', () => undefined);
    this.proc.on('exit', () => (this.ended = true));
  }
  send(line: string): void {
    this.proc.stdin!.write(`${line}\n`);
  }
  close(): void {
    this.proc.kill('SIGKILL');
  }
}

test(
  'SIGKILL of a node mid-upload: its grant is back within the lease, used = disk, reput through another node',
  { skip },
  async (t) => {
    const fx = fixture(t);
    const lease = 3;
    const cl = await startCluster(fx, {
      cluster: { leaseSeconds: lease, grantBatch: 4 * MiB },
      rates: { upload: 4 * MiB, download: 0 },
    });
    const [, n2, n3] = cl.nodes;
    const u = n2!.addUser('bob', { key: true, quota: String(64 * MiB) });
    const work = fx.tempDir('jailsftp-failover-');
    const data = randomBytes(24 * MiB);
    writeFileSync(join(work, 'up.bin'), data);
    const remote = join(cl.homes, 'bob', 'up.bin');
    const put = sftpBatch(n2!, u, 'put up.bin\n', { cwd: work, timeoutMs: 60000 });
    await waitFor(() => size(remote) >= 4 * MiB, 20000, 'the upload to start');
    await n2!.kill();
    const killed = Date.now();
    assert.notEqual((await put).status, 0);
    assert.ok((await cl.row('bob')).reserved > 0, 'node 2 held a grant');
    let row = await cl.row('bob');
    while (row.reserved !== 0 && Date.now() - killed < 20000) {
      await sleep(50);
      row = await cl.row('bob');
    }
    const back = Date.now() - killed;
    assert.equal(row.reserved, 0, 'the grant never came back');
    // the lease passes at most `lease` after the last renewal; someone's heartbeat (lease/5) sees it
    assert.ok(back <= (lease + lease / 5) * 1000 + 1000, `grant back after ${back} ms`);
    // used: from the disk (the partial file), once no node holds bob
    await until(
      async () => (await cl.row('bob')).used === cl.disk('bob'),
      10000,
      'used to match the disk',
    ).catch(async (e: Error) => {
      throw new Error(
        `${e.message}: ${JSON.stringify(await cl.row('bob'))} disk ${cl.disk('bob')}`,
      );
    });
    const partial = size(remote);
    assert.ok(partial > 0 && partial < data.length, `partial ${partial}`);
    // the upload resumes through node 3, byte for byte
    const reput = await sftpBatch(n3!, u, 'reput up.bin\n', { cwd: work, timeoutMs: 60000 });
    assert.equal(reput.status, 0, reput.stderr);
    assert.equal(sha256(readFileSync(remote)), sha256(data));
    await until(
      async () => {
        const r = await cl.row('bob');
        return r.used === data.length && r.reserved === 0;
      },
      10000,
      'used = the whole file after the reput',
    );
    t.diagnostic(
      `killed node's grant back after ${back} ms (lease ${lease} s); partial ${partial}`,
    );
  },
);

test(
  'SIGSTOP of a node mid-upload for longer than its lease, then SIGCONT: its writes fail, no overshoot',
  { skip },
  async (t) => {
    const fx = fixture(t);
    const lease = 3;
    const cl = await startCluster(fx, {
      cluster: { leaseSeconds: lease, grantBatch: 4 * MiB },
      rates: { upload: 2 * MiB, download: 0 },
    });
    const [n1, n2] = cl.nodes;
    const Q = 12 * MiB;
    const u = n1!.addUser('cat', { key: true, quota: String(Q) });
    const work = fx.tempDir('jailsftp-failover-');
    writeFileSync(join(work, 'slow.bin'), randomBytes(8 * MiB));
    writeFileSync(join(work, 'big.bin'), randomBytes(Q));
    const slow = join(cl.homes, 'cat', 'slow.bin');
    // node 2 uploads slowly, holding a grant
    const s = new OpenSftp(n2!, u, work);
    fx.defer(() => s.close());
    s.send('put slow.bin slow.bin');
    s.send('!echo put-done');
    await waitFor(() => size(slow) >= MiB, 20000, 'the upload on node 2 to start');
    process.kill(n2!.proc.pid!, 'SIGSTOP');
    const stopped = Date.now();
    const atStop = size(slow);
    fx.defer(() => {
      if (n2!.proc.exitCode === null) process.kill(n2!.proc.pid!, 'SIGCONT');
    });
    assert.ok((await cl.row('cat')).reserved > 0, 'node 2 holds a grant');
    // another node takes the stopped node's grant back, and used is set from the disk
    await until(
      async () => {
        const r = await cl.row('cat');
        return r.reserved === 0 && r.used === cl.disk('cat');
      },
      (lease + 5) * 1000,
      'the stopped node to be taken back',
    );
    const back = Date.now() - stopped;
    // through node 1 the rest of the quota is filled
    const fill = await sftpBatch(n1!, u, 'put big.bin big.bin\n', { cwd: work, timeoutMs: 60000 });
    assert.notEqual(fill.status, 0);
    const full = cl.disk('cat');
    assert.ok(full <= Q && Q - full < 256 * 1024, `on disk ${full} of ${Q}`);
    await sleep(Math.max(0, (lease + 1) * 1000 - (Date.now() - stopped)));
    process.kill(n2!.proc.pid!, 'SIGCONT');
    // node 2's upload: its writes fail (fenced, then the session ends: lease lost)
    await waitFor(() => /put-done/.test(s.out) || s.ended, 30000, 'the upload on node 2 to end');
    assert.match(s.out, /Failure|Connection closed|quota/);
    assert.ok(cl.disk('cat') <= Q, `overshoot: ${cl.disk('cat') - Q}`);
    await waitFor(() => /lost its lease/.test(n2!.output()), 10000, 'node 2 to log the loss');
    // node 2 registered again: a new session there works (a listing)
    const ls = await sftpBatch(n2!, u, 'ls\n', { timeoutMs: 30000 });
    assert.equal(ls.status, 0, ls.stderr);
    assert.match(ls.stdout, /big\.bin/);
    await until(
      async () => {
        const r = await cl.row('cat');
        return r.reserved === 0 && r.used === cl.disk('cat');
      },
      10000,
      'used = disk at the end',
    );
    t.diagnostic(
      `stopped node taken back after ${back} ms (lease ${lease} s); its file ${atStop} -> ${size(slow)} bytes; disk ${cl.disk('cat')} of ${Q}`,
    );
  },
);

test(
  'PostgreSQL restarted mid-transfer: the transfer completes or stops cleanly, within the quota; the node recovers',
  { skip },
  async (t) => {
    const fx = fixture(t);
    const cl = await startCluster(fx, {
      cluster: { leaseSeconds: 10, grantBatch: 2 * MiB },
      rates: { upload: 4 * MiB, download: 0 },
    });
    const [n1] = cl.nodes;
    const Q = 64 * MiB;
    const u = n1!.addUser('dan', { key: true, quota: String(Q) });
    const work = fx.tempDir('jailsftp-failover-');
    const data = randomBytes(16 * MiB);
    writeFileSync(join(work, 'up.bin'), data);
    const remote = join(cl.homes, 'dan', 'up.bin');
    const put = sftpBatch(n1!, u, 'put up.bin\n', { cwd: work, timeoutMs: 60000 });
    await waitFor(() => size(remote) >= 2 * MiB, 20000, 'the upload to start');
    await cl.db.stop();
    await sleep(1500);
    await cl.db.start();
    const r = await put;
    const got = size(remote);
    if (r.status === 0) {
      const on = readFileSync(remote);
      let first = -1;
      let last = -1;
      let zeros = true;
      for (let i = 0; i < Math.min(on.length, data.length); i++)
        if (on[i] !== data[i]) {
          if (first < 0) first = i;
          last = i;
          if (on[i] !== 0) zeros = false;
        }
      first = first * 1 + 0;
      const msg = `last ${last} zeros ${zeros}`;
      assert.equal(
        sha256(on),
        sha256(data),
        `size ${on.length}/${data.length}, first difference at ${first} ${msg}; ${r.stdout} ${r.stderr}\n${n1!.output().slice(-3000)}`,
      );
    } else assert.match(r.stderr, /Failure|quota/, r.stderr); // stopped with a reply, not a hang
    assert.ok(cl.disk('dan') <= Q);
    // the node recovers by itself: a new upload through it works, and used = disk
    let again = await sftpBatch(n1!, u, 'put up.bin again.bin\n', { cwd: work, timeoutMs: 60000 });
    for (let i = 0; i < 20 && again.status !== 0; i++) {
      await sleep(500);
      again = await sftpBatch(n1!, u, 'put up.bin again.bin\n', { cwd: work, timeoutMs: 60000 });
    }
    assert.equal(again.status, 0, again.stderr);
    assert.equal(sha256(readFileSync(join(cl.homes, 'dan', 'again.bin'))), sha256(data));
    await until(
      async () => {
        const row = await cl.row('dan');
        return row.used === cl.disk('dan') && row.reserved === 0;
      },
      15000,
      'used = disk',
    ).catch(async (e: Error) => {
      throw new Error(
        `${e.message}: ${JSON.stringify(await cl.row('dan'))} disk ${cl.disk('dan')}`,
      );
    });
    t.diagnostic(
      `transfer during the restart: ${r.status === 0 ? 'completed' : `stopped at ${got} bytes (${r.stderr.trim()})`}`,
    );
  },
);

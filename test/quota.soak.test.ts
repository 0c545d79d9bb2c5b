// Rounds of concurrent OpenSSH and paramiko writers of one user over the quota, with deletes in
// between: the largest usage ever sampled stays <= quota, and the ledger matches the disk after.
import test, { before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fixture } from './helpers/fixture.js';
import type { TestServer, TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import { sftpBatch, sshOpts } from './helpers/clients.js';
import { randomFile, usage, watchUsage } from './helpers/files.js';
import { pyAs } from './helpers/run.js';

const MiB = 1024 * 1024;
const QUOTA = 4 * MiB;
const fx = fixture();
let srv: TestServer;
let u: TestUser;
let local: string;

before(async () => {
  srv = await fx.server();
  u = srv.addUser('soak', { quota: QUOTA, key: true, home: true });
  local = fx.tempDir('jailsftp-qsoak-');
});

test(
  '5 rounds of 3 OpenSSH + 3 paramiko sessions writing 2x the quota: overshoot 0, ledger exact',
  { skip: needs('sftp', 'paramiko') },
  async (tc) => {
    // a session held open for the whole test keeps the same ledger alive (no rescan between rounds)
    const holder = spawn('sftp', [...sshOpts(srv, u), `${u.name}@${srv.host}`], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let said = '';
    holder.stdout.on('data', (d: Buffer) => (said += d.toString()));
    holder.stderr.on('data', (d: Buffer) => (said += d.toString()));
    const closed = new Promise((r) => holder.on('close', r));
    fixture(tc).defer(() => void holder.kill('SIGKILL'));
    for (let i = 0; i < 100 && !said.includes('Connected'); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(said, /Connected/);
    let worst = 0;
    let samples = 0;
    for (let round = 0; round < 5; round++) {
      const srcs = [0, 1, 2].map((i) => join(local, `r${round}-${i}`));
      srcs.forEach((p) => randomFile(p, 1536 * 1024));
      const w = watchUsage(u.home, 1);
      const runs = await Promise.all([
        ...srcs.map((p, i) => sftpBatch(srv, u, `put ${p} s${round}-${i}.bin\n`)),
        pyAs('q_ops.py', srv, u, ['concurrent', 3, 1536 * 1024]),
      ]);
      const max = w.stop();
      samples += w.samples();
      worst = Math.max(worst, max);
      assert.ok(max <= QUOTA, `round ${round}: overshoot ${max - QUOTA}`);
      assert.ok(runs.slice(0, 3).some((r) => 'status' in r && r.status !== 0));
      // the ledger agrees with the disk: what statvfs reports free is quota - usage
      const { lines } = await pyAs('q_ops.py', srv, u, ['free']);
      assert.equal(
        lines[0]!.free,
        Math.floor((QUOTA - usage(u.home)) / 1024) * 1024,
        `round ${round}`,
      );
      // free space through the server, so that the live ledger gives it back
      const names = readdirSync(u.home).filter((f) => round % 2 === 0 || f.startsWith('conc'));
      const rm = await sftpBatch(srv, u, names.map((f) => `rm ${f}\n`).join(''));
      assert.equal(rm.status, 0, rm.stderr);
    }
    holder.stdin.end('bye\n');
    const t = setTimeout(() => holder.kill('SIGKILL'), 5000);
    await closed;
    clearTimeout(t);
    console.log(
      `# quota soak: max usage ${worst} of ${QUOTA} over ${samples} samples (overshoot ${Math.max(0, worst - QUOTA)})`,
    );
  },
);

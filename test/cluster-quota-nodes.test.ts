// The exact quota across three real nodes (cluster mode: one PostgreSQL, one shared homes directory):
// parallel uploads by OpenSSH sftp and paramiko through HAProxy (send-proxy-v2, round robin) to the
// three nodes, together over the quota.
// What the user sees: the bytes on disk never pass the quota, the quota is filled (no refusal while
// room remained, beyond one write per upload), and the store's `used` equals the disk after close.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture } from './helpers/fixture.js';
import { startCluster } from './helpers/cluster.js';
import { startHaproxy } from './helpers/haproxy.js';
import { needs } from './helpers/tools.js';
import { sftpBatch } from './helpers/clients.js';
import { pyAs, sleep } from './helpers/run.js';

const MiB = 1024 * 1024;
/** the largest write of either client: OpenSSH sftp writes 255 KiB (limits@openssh.com), paramiko 32 KiB */
const WRITE = 255 * 1024;

test(
  'three nodes: 6 parallel uploads (sftp and paramiko) over the quota together stay within it and fill it',
  { skip: needs('postgres') || needs('paramiko') || needs('haproxy') },
  async (t) => {
    const fx = fixture(t);
    const cl = await startCluster(fx, {
      cluster: { leaseSeconds: 5, grantBatch: 2 * MiB },
      proxyProtocol: ['127.0.0.1/32'],
    });
    const [n1] = cl.nodes;
    const hap = await startHaproxy(fx, { backends: cl.nodes.map((n) => n.port) });
    await hap.ready();
    // the balancer's port; round robin gives each node two of the six uploads
    const via = { ...n1!, port: hap.port };
    const Q = 12 * MiB;
    const u = n1!.addUser('ann', { key: true, quota: String(Q) });
    const work = fx.tempDir('jailsftp-cluster-work-');
    const file = join(work, 'up.bin');
    writeFileSync(file, randomBytes(4 * MiB));
    const t0 = Date.now();
    const results = await Promise.all(
      cl.nodes.flatMap((_n, i) => [
        sftpBatch(via, u, `put up.bin sftp-${i}.bin\n`, { cwd: work, timeoutMs: 120000 }).then(
          (r) => ({ client: `sftp#${i + 1}`, ok: r.status === 0, text: r.stderr }),
        ),
        pyAs('cluster_put.py', via, u, [file, `paramiko-${i}.bin`], 120000).then(
          ({ r, lines }) => ({
            client: `paramiko#${i + 1}`,
            ok: lines[0]?.ok === true,
            text: String(lines[0]?.error ?? r.stderr),
          }),
        ),
      ]),
    );
    const ms = Date.now() - t0;
    // every node took part
    for (const [i, n] of cl.nodes.entries())
      assert.match(n.output(), /login user=ann /, `node ${i + 1} served no upload`);
    const disk = cl.disk('ann');
    // 24 MiB were sent for 12 MiB of quota: some uploads were refused, with the quota message
    const refused = results.filter((r) => !r.ok);
    assert.ok(refused.length >= 3, JSON.stringify(results));
    for (const r of refused.filter((x) => x.client.startsWith('sftp')))
      assert.match(r.text, /quota exceeded|Failure/, r.client);
    assert.ok(disk <= Q, `on disk ${disk} > quota ${Q}: overshoot ${disk - Q}`);
    // no write was refused while the quota had room for it: what is left is less than one write
    assert.ok(Q - disk < WRITE, `on disk ${disk}: ${Q - disk} bytes of room refused`);
    // once every session closed, the store's used is the disk, and nothing stays reserved
    const until = Date.now() + 10000;
    let row = await cl.row('ann');
    while ((row.used !== disk || row.reserved !== 0) && Date.now() < until) {
      await sleep(100);
      row = await cl.row('ann');
    }
    assert.deepEqual(row, { used: disk, reserved: 0 });
    t.diagnostic(
      `${ms} ms; on disk ${disk} of ${Q} (room left ${Q - disk}, overshoot 0); refused: ${refused.map((r) => `${r.client} (${r.text.trim().split('\n').pop()})`).join(', ')}`,
    );
  },
);

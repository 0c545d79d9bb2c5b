// Hash speed on a 256 MiB file, and that a long hash does not stall another session.
import test, { before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fixture } from './helpers/fixture.js';
import type { TestServer, TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import { pyAs } from './helpers/run.js';

const fx = fixture();
let srv: TestServer;
let u: TestUser;

before(async () => {
  srv = await fx.server();
  u = srv.addUser('alice', { home: true });
  const fd = openSync(join(u.home, 'big.bin'), 'w');
  const chunk = randomBytes(1024 * 1024);
  for (let i = 0; i < 256; i++) {
    chunk.writeUInt32LE(i, 0);
    writeSync(fd, chunk);
  }
  closeSync(fd);
});

test(
  'check-file-name sha256 of 256 MiB: speed, and other sessions keep being served',
  { skip: needs('paramiko') },
  async () => {
    const { r, lines } = await pyAs('ext_ops.py', srv, u, ['speed', 'big.bin'], 300000);
    assert.equal(r.status, 0, r.stderr);
    const l = lines[0]!;
    const want = spawnSync('sha256sum', [join(u.home, 'big.bin')], {
      encoding: 'utf8',
    }).stdout.slice(0, 64);
    assert.equal(l.hex, want);
    console.log(
      `# check-file-name sha256, 256 MiB: ${Number(l.mib_s).toFixed(0)} MiB/s (${Number(l.seconds).toFixed(2)} s); ` +
        `stat from another session during it: ${String(l.probes)} probes, max ${Number(l.max_stat_ms).toFixed(0)} ms`,
    );
    assert.ok(Number(l.mib_s) > 20, 'at least 20 MiB/s even on a busy machine');
    assert.ok(Number(l.probes) >= 3, 'the other session was served during the hash');
    assert.ok(Number(l.max_stat_ms) < 1000, 'no stall of a second or more');
  },
);

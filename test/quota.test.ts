// Quota: the CLI, `df`, and the invariant "sum of apparent sizes in a home <= quota" under
// concurrent sessions, several handles, huge offsets, SETSTAT size, TRUNC, copy-data, rename, remove.
import test, { before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture } from './helpers/fixture.js';
import type { TestServer, TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import { sftpBatch } from './helpers/clients.js';
import { randomFile, sha256, usage, watchUsage } from './helpers/files.js';
import { py, pyAs } from './helpers/run.js';
import { Status } from '../common/wire.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const fx = fixture();
let srv: TestServer;
let local: string;
let n = 0;

before(async () => {
  srv = await fx.server();
  local = fx.tempDir('jailsftp-quota-');
});

/** A fresh user (own home, own ledger) per test. */
function user(quota: string | number): TestUser {
  const u = srv.addUser(`q${++n}`, { quota, key: true, home: true });
  return u;
}

/** What paramiko's q_ops.py writes for a seed (to check that what fit is a prefix of it). */
function payload(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  const full = size - (size % 256);
  for (let i = 0; i < full; i++) b[i] = ((i % 256) * 7 + seed) & 0xff;
  return b;
}

/** "quota exceeded: 1.2 KiB (1234 bytes) free" or "quota exceeded: 12 B free" -> 1234 / 12. */
function freeIn(message: string): number {
  const m = /quota exceeded: (?:[\d.]+ \w+ \((\d+) bytes\)|(\d+) B) free/.exec(message);
  assert.ok(m, `no free bytes in: ${message}`);
  return Number(m[1] ?? m[2]);
}

function isPrefix(file: string, full: Buffer): void {
  const got = readFileSync(file);
  assert.ok(got.length <= full.length);
  assert.equal(sha256(got), sha256(full.subarray(0, got.length)), `${file} is not a prefix`);
}

test('CLI: user add --quota, user quota, user list shows quota and used', async () => {
  const r = srv.cli(['user', 'add', 'cliq', '--quota', '2M', '--password-stdin'], 'pw-cliq\n');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /quota 2 MiB/);
  const q = srv.cli(['user', 'quota', 'cliq', '3M']);
  assert.equal(q.status, 0, q.stderr);
  assert.match(q.stdout, /quota of cliq: 3 MiB/);
  const { r: up } = await py('q_ops.py', [
    srv.port,
    'cliq',
    'pw-cliq',
    'upload',
    'x.bin',
    300 * KiB,
  ]);
  assert.equal(up.status, 0, up.stderr);
  const { lines } = await py('q_ops.py', [srv.port, 'cliq', 'pw-cliq', 'free']);
  assert.deepEqual(lines[0], { free: 3 * MiB - 300 * KiB, size: 3 * MiB }, 'new quota applies');
  const l = srv.cli(['user', 'list']);
  assert.equal(l.status, 0);
  assert.match(l.stdout, /NAME\s+QUOTA\s+USED/);
  assert.match(l.stdout, /^cliq\s+3 MiB\s+300(\.0)? KiB/m);
  assert.notEqual(srv.cli(['user', 'quota', 'nobody', '1M']).status, 0);
});

test(
  'df in OpenSSH sftp shows the quota as size and what is left as avail',
  { skip: needs('sftp') },
  async () => {
    const u = user('1M');
    writeFileSync(join(local, 'q256'), Buffer.alloc(256 * KiB, 1));
    const r = await sftpBatch(srv, u, `put ${join(local, 'q256')} a\ndf\n`);
    assert.equal(r.status, 0, r.stderr);
    // Size Used Avail (root) %Capacity, in KiB
    assert.match(r.stdout, /^\s+1024\s+256\s+768\s+768\s+25%$/m, r.stdout);
    // an unlimited user sees the real file system
    const free = srv.addUser(`unl${++n}`, { key: true });
    const d = await sftpBatch(srv, free, 'df\n');
    assert.equal(d.status, 0, d.stderr);
    const s = statfsSync(srv.homesDir);
    const m = /^\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(d.stdout.split('\n').slice(2).join('\n'));
    assert.ok(m, d.stdout);
    assert.equal(Number(m[1]), Math.floor((s.blocks * s.bsize) / 1024));
    // avail moves with others writing to the disk: compare within 64 MiB
    assert.ok(Math.abs(Number(m[3]) - (s.bavail * s.bsize) / 1024) < 65536, d.stdout);
  },
);

test(
  'concurrent OpenSSH sftp sessions over the free space: no overshoot, exit non-zero, prefixes kept',
  { skip: needs('sftp') },
  async () => {
    const u = user('1M');
    const other = user('1M');
    const srcs = [0, 1, 2].map((i) => join(local, `c${i}`));
    srcs.forEach((p) => randomFile(p, 600 * KiB));
    const w = watchUsage(u.home);
    const runs = await Promise.all([
      ...srcs.map((p, i) => sftpBatch(srv, u, `put ${p} c${i}.bin\n`)),
      sftpBatch(srv, other, `put ${srcs[0]} mine.bin\n`),
    ]);
    const max = w.stop();
    const mine = runs.pop()!;
    assert.ok(max <= MiB, `overshoot ${max - MiB} bytes`);
    console.log(
      `# OpenSSH x3: max usage ${max} of ${MiB} (overshoot ${Math.max(0, max - MiB)}), ${w.samples()} samples`,
    );
    assert.ok(
      runs.some((r) => r.status !== 0),
      'at least one put failed',
    );
    for (const r of runs.filter((x) => x.status !== 0))
      assert.match(r.stderr, /Couldn't write|Failure/);
    // what fit stays on disk, as a prefix of what was sent
    const total = srcs.reduce((a, p, i) => {
      const f = join(u.home, `c${i}.bin`);
      try {
        isPrefix(f, readFileSync(p));
        return a + statSync(f).size;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return a;
        throw e;
      }
    }, 0);
    assert.equal(total, usage(u.home));
    // OpenSSH writes 255 KiB at a time (limits@openssh.com): less than that may stay free
    assert.ok(total > MiB - 255 * KiB, `the quota was used: ${total}`);
    // the other user was not affected
    assert.equal(mine.status, 0, mine.stderr);
    assert.equal(
      sha256(readFileSync(join(other.home, 'mine.bin'))),
      sha256(readFileSync(srcs[0]!)),
    );
  },
);

test(
  'concurrent paramiko sessions: no overshoot; the message says quota exceeded and the free bytes',
  { skip: needs('paramiko') },
  async () => {
    const u = user('1M');
    const w = watchUsage(u.home);
    const { r, lines } = await pyAs('q_ops.py', srv, u, ['concurrent', 4, 400 * KiB]);
    const max = w.stop();
    assert.equal(r.status, 0, r.stderr);
    console.log(
      `# paramiko x4: max usage ${max} of ${MiB} (overshoot ${Math.max(0, max - MiB)}), ${w.samples()} samples`,
    );
    assert.ok(max <= MiB, `overshoot ${max - MiB}`);
    assert.equal(lines.length, 4);
    const failed = lines.filter((l) => l.error !== null);
    assert.ok(failed.length >= 1);
    for (const l of failed) {
      assert.match(String(l.error), /quota exceeded/);
      assert.ok(freeIn(String(l.error)) < 32 * KiB, 'a 32 KiB write fails only when less is free');
    }
    for (const [i, l] of lines.entries()) {
      const f = join(u.home, String(l.name));
      assert.equal(statSync(f).size, l.acked, 'acknowledged bytes are on disk, nothing more');
      isPrefix(f, payload(400 * KiB, i));
    }
    assert.ok(usage(u.home) <= MiB && usage(u.home) > MiB - 4 * 32 * KiB);
  },
);

test('several write handles in one session, pipelined', { skip: needs('paramiko') }, async () => {
  const u = user('1M');
  const w = watchUsage(u.home);
  const { r, lines } = await pyAs('q_ops.py', srv, u, ['handles', 4, 512 * KiB]);
  const max = w.stop();
  assert.equal(r.status, 0, r.stderr);
  console.log(`# 4 handles: max usage ${max} of ${MiB}`);
  assert.ok(max <= MiB, `overshoot ${max - MiB}`);
  assert.ok(Number(lines[0]!.errors) > 0);
  assert.match(String(lines[0]!.first), /quota exceeded/);
});

test(
  'exact free bytes in the message, and what fit stays',
  { skip: needs('paramiko') },
  async () => {
    const u = user(100_000);
    writeFileSync(join(u.home, 'seed'), Buffer.alloc(40_000, 2));
    const { lines } = await pyAs('q_ops.py', srv, u, ['upload', 'up.bin', 200_000]);
    // 32 KiB writes: 32768 fits in 60000, the next one does not; 27232 bytes are free then
    assert.equal(lines[0]!.acked, 32768);
    assert.equal(freeIn(String(lines[0]!.error)), 100_000 - 40_000 - 32768);
    assert.equal(statSync(join(u.home, 'up.bin')).size, 32768);
    assert.equal(usage(u.home), 40_000 + 32768);
  },
);

test(
  'a write of one byte at offset 2^40 and SETSTAT/FSETSTAT size 2^40 are refused',
  { skip: needs('paramiko') },
  async () => {
    const u = user('1M');
    const a = await pyAs('q_ops.py', srv, u, ['offset']);
    assert.equal(a.r.status, 0, a.r.stderr);
    assert.equal(a.lines[0]!.code, Status.FAILURE);
    assert.match(String(a.lines[0]!.message), /^quota exceeded: 1\.0 MiB \(1048576 bytes\) free$/);
    assert.equal(statSync(join(u.home, 'sparse.bin')).size, 0);
    writeFileSync(join(u.home, 'f'), 'hello');
    const s = await pyAs('q_ops.py', srv, u, ['setstat', 'f']);
    assert.equal(s.r.status, 0, s.r.stderr);
    for (const l of s.lines) {
      assert.equal(l.code, Status.FAILURE, JSON.stringify(l));
      assert.match(String(l.message), /quota exceeded/);
    }
    assert.equal(readFileSync(join(u.home, 'f'), 'utf8'), 'hello');
    assert.equal(usage(u.home), 5);
  },
);

test(
  'after a refused write, writes beyond it stay refused until it is written (no hole), even with room again',
  { skip: needs('paramiko') },
  async () => {
    const u = user(200_000);
    writeFileSync(join(u.home, 'seed'), Buffer.alloc(100_000, 2));
    const { r, lines } = await pyAs('q_ops.py', srv, u, ['refused']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      lines.map((l) => [l.op, l.code]),
      [
        ['write@0', Status.OK],
        ['write@65536', Status.FAILURE],
        ['remove', Status.OK],
        ['write@131072', Status.FAILURE],
        ['write@65536', Status.OK],
        ['write@131072', Status.OK],
      ],
    );
    assert.match(String(lines[3]!.message), /quota exceeded/);
    const got = readFileSync(join(u.home, 'up.bin'));
    assert.equal(got.length, 196_608);
    assert.equal(sha256(got), sha256(Buffer.concat([0, 1, 2].map(() => payload(65536, 0)))));
  },
);

test(
  'OPEN with TRUNC gives the old size back before the new bytes come',
  { skip: needs('paramiko') },
  async () => {
    const u = user('1M');
    writeFileSync(join(u.home, 'big'), Buffer.alloc(900 * KiB, 3));
    const { r, lines } = await pyAs('q_ops.py', srv, u, ['trunc', 'big', 900 * KiB]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(lines[0]!.free_before, 124 * KiB);
    assert.equal(lines[0]!.free_after_open, MiB);
    assert.equal(lines[0]!.failures, 0);
    assert.equal(statSync(join(u.home, 'big')).size, 900 * KiB);
  },
);

test('copy-data over the limit stops at the quota', { skip: needs('paramiko') }, async () => {
  const u = user('1M');
  const src = Buffer.alloc(600 * KiB);
  for (let i = 0; i < src.length; i++) src[i] = (i * 31) & 0xff;
  writeFileSync(join(u.home, 'src'), src);
  const { r, lines } = await pyAs('q_ops.py', srv, u, ['copy', 'src', 'dst']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(lines[0]!.code, Status.FAILURE);
  assert.match(String(lines[0]!.message), /quota exceeded/);
  assert.equal(usage(u.home), 600 * KiB + 256 * KiB, 'copy-data moves 256 KiB at a time');
  isPrefix(join(u.home, 'dst'), src);
});

test(
  'posix-rename over an existing file gives its space back',
  { skip: needs('paramiko') },
  async () => {
    const u = user('1M');
    writeFileSync(join(u.home, 'a'), Buffer.alloc(600 * KiB, 4));
    writeFileSync(join(u.home, 'b'), Buffer.alloc(400 * KiB, 5));
    const { r, lines } = await pyAs('q_ops.py', srv, u, ['rename', 'a', 'b']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(lines[0]!.code, Status.OK);
    assert.equal(lines[0]!.free, 424 * KiB);
    const up = await pyAs('q_ops.py', srv, u, ['upload', 'c', 400 * KiB]);
    assert.equal(up.lines[0]!.error, null);
    assert.equal(usage(u.home), 1000 * KiB);
  },
);

test(
  'remove gives the space back at once: the next upload in the session fits',
  { skip: needs('paramiko') },
  async () => {
    const u = user('1M');
    writeFileSync(join(u.home, 'full'), Buffer.alloc(MiB, 6));
    const { r, lines } = await pyAs('q_ops.py', srv, u, ['remove', 'full', 'new', 1000 * KiB]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual([lines[0]!.code, lines[0]!.free, lines[0]!.error], [0, MiB, null]);
    assert.equal(statSync(join(u.home, 'new')).size, 1000 * KiB);
  },
);

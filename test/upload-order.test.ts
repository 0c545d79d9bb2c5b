// Uploads whose WRITEs arrive out of order (clients with several writes in flight send them as their
// local reads finish: ssh2-sftp-client's fastPut, rclone, WinSCP) still get their SHA-256 where
// something reads it (the audit log, upload hooks): in the audit line or the hook's payload, and
// remembered for `sha256sum`. Writes over bytes already written, and a hostile spray of tiny writes,
// never give a wrong digest, and what the server keeps aside stays bounded. Without an audit log or
// upload hooks nothing is kept aside: such an upload is hashed again when asked.
import test, { before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type ssh2 from 'ssh2';
import SftpClient from 'ssh2-sftp-client';
import { auditEvents, remembered } from './helpers/files.js';
import { connect, openSftp } from './helpers/channels.js';
import { fixture, type FixtureServer } from './helpers/fixture.js';
import { waitFor } from './helpers/proc.js';
import { startCluster } from './helpers/cluster.js';
import { needs } from './helpers/tools.js';
import {
  AHEAD_BYTES,
  AHEAD_TOTAL,
  AHEAD_WRITES,
  aheadBytes,
  RunningHash,
} from '../server/fs/digests.js';
import { UPLOAD_DIGESTS_ENV } from '../common/upload-digests.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const fx = fixture();
let srv: FixtureServer<'ola'>;
let audit: string;
let conn: ssh2.Client;
let sftp: ssh2.SFTPWrapper;

before(async () => {
  const dir = fx.tempDir('jailsftp-order-');
  audit = join(dir, 'audit.log');
  srv = await fx.server({
    dir,
    users: { ola: { home: true, key: true } },
    config: { auditLog: audit },
  });
  conn = await connect(srv, srv.users.ola);
  fx.defer(() => conn.end());
  sftp = await openSftp(conn);
});

type Ev = { event: string; path?: string; sha256?: string; status?: string; offset?: number };

/** The audit event of the upload of `path` (waits for it: the audit log is written in batches). */
async function uploadEvent(path: string): Promise<Ev> {
  const find = (): Ev | undefined =>
    auditEvents<Ev>(audit).find((e) => e.event === 'upload' && e.path === path);
  await waitFor(() => find() !== undefined, 5000, `the upload event of ${path}`);
  return find()!;
}

function sha256sum(name: string, c: ssh2.Client = conn): Promise<string> {
  return new Promise((res, rej) =>
    c.exec(`sha256sum ${name}`, (err, ch) => {
      if (err) return rej(err);
      let out = '';
      ch.on('data', (d: Buffer) => (out += d.toString()));
      ch.on('close', () => res(out));
    }),
  );
}

/** Writes `parts` ([offset, bytes]) one after the other, in the order given, on one handle. */
async function writeInOrder(
  path: string,
  parts: [number, Buffer][],
  on: ssh2.SFTPWrapper = sftp,
): Promise<void> {
  const p = <T>(f: (cb: (err: Error | null | undefined, v: T) => void) => void): Promise<T> =>
    new Promise((res, rej) => f((err, v) => (err ? rej(err) : res(v))));
  const h = await p<Buffer>((cb) => on.open(path, 'w', cb));
  for (const [at, b] of parts)
    await p<void>((cb) => on.write(h, b, 0, b.length, at, (err) => cb(err, undefined)));
  await p<void>((cb) => on.close(h, (err) => cb(err, undefined)));
}

/** ssh2-sftp-client's fastPut of `local` to each of `remotes`, with small chunks and many in flight:
 *  the client's local reads finish out of order, and so do its writes. */
async function fastPuts<K extends string>(
  on: FixtureServer<K>,
  user: K,
  local: string,
  remotes: string[],
): Promise<void> {
  const c = new SftpClient();
  await c.connect({
    host: on.host,
    port: on.port,
    username: user,
    privateKey: on.users[user].privateKey,
  });
  try {
    for (const r of remotes) await c.fastPut(local, r, { concurrency: 64, chunkSize: 16384 });
  } finally {
    await c.end();
  }
}

test('fastPut with writes in flight: the audit line has the sha256, and it is remembered', async () => {
  // small chunks and many in flight: the client's local reads finish out of order, and so do
  // its writes (without the kept-aside writes this test failed: no sha256); the tests below with
  // shuffled writes cover an order that is out of sequence for certain
  const data = randomBytes(4 * 1024 * 1024 + 123);
  const local = join(srv.dir, 'fast.bin');
  writeFileSync(local, data);
  await fastPuts(srv, 'ola', local, ['/fast0.bin', '/fast1.bin', '/fast2.bin']);
  for (let i = 0; i < 3; i++) {
    const name = `fast${i}.bin`;
    assert.equal(sha(readFileSync(join(srv.users.ola.home, name))), sha(data), 'on disk');
    const ev = await uploadEvent(`/${name}`);
    assert.equal(ev.status, 'ok');
    assert.equal(ev.offset, 0, `${name}: where it started, whatever write came first`);
    assert.equal(ev.sha256, sha(data), `${name}: the audit line's sha256`);
    assert.ok(remembered(join(srv.users.ola.home, name)), `${name}: the digest was remembered`);
    assert.equal(await sha256sum(name), `${sha(data)}  ${name}\n`);
  }
});

/** `data` in writes of 32 KiB, reversed within groups of 4, the last group first. */
function shuffled(data: Buffer): [number, Buffer][] {
  const k = 32 * 1024;
  const chunks: [number, Buffer][] = [];
  for (let at = 0; at < data.length; at += k) chunks.push([at, data.subarray(at, at + k)]);
  const order: [number, Buffer][] = [];
  for (let g = chunks.length - (chunks.length % 4 || 4); g >= 0; g -= 4)
    order.push(...chunks.slice(g, g + 4).reverse());
  assert.equal(order.length, chunks.length);
  return order;
}

test('writes out of order that came together: the digest of what is on disk', async () => {
  const data = randomBytes(300 * 1024);
  await writeInOrder('/shuffled.bin', shuffled(data));
  const ev = await uploadEvent('/shuffled.bin');
  assert.equal(ev.offset, 0);
  assert.equal(ev.sha256, sha(data));
  assert.equal(await sha256sum('shuffled.bin'), `${sha(data)}  shuffled.bin\n`);
});

test('a write over bytes already written never gives a wrong digest', async () => {
  const k = 32 * 1024;
  const a = randomBytes(k);
  const b = randomBytes(k);
  const c = randomBytes(k);
  const patch = randomBytes(1000);
  const cases: [string, [number, Buffer][]][] = [
    // over hashed bytes, after the gap came together
    [
      'over-hashed',
      [
        [0, a],
        [2 * k, c],
        [k, b],
        [k / 2, patch],
      ],
    ],
    // over a write kept aside, before the gap came together
    [
      'over-ahead',
      [
        [0, a],
        [2 * k, c],
        [2 * k + 10, patch],
        [k, b],
      ],
    ],
    // the gap filled by a write that runs into the one kept aside
    [
      'into-ahead',
      [
        [0, a],
        [2 * k, c],
        [k, Buffer.concat([b, patch])],
      ],
    ],
  ];
  for (const [name, parts] of cases) {
    await writeInOrder(`/${name}`, parts);
    const disk = readFileSync(join(srv.users.ola.home, name));
    const ev = await uploadEvent(`/${name}`);
    assert.ok(ev.sha256 === undefined || ev.sha256 === sha(disk), `${name}: ${ev.sha256}`);
    assert.equal(await sha256sum(name), `${sha(disk)}  ${name}\n`, name);
  }
});

test('a spray of tiny writes past a gap: the hash is dropped, the upload is whole', async () => {
  // every other byte first (more writes than are kept aside), then the gaps
  const n = 4 * AHEAD_WRITES;
  const data = randomBytes(2 * n);
  const parts: [number, Buffer][] = [];
  for (let i = 1; i < 2 * n; i += 2) parts.push([i, data.subarray(i, i + 1)]);
  for (let i = 0; i < 2 * n; i += 2) parts.push([i, data.subarray(i, i + 1)]);
  await writeInOrder('/spray.bin', parts);
  assert.deepEqual(readFileSync(join(srv.users.ola.home, 'spray.bin')), data);
  const ev = await uploadEvent('/spray.bin');
  assert.equal(ev.status, 'ok');
  assert.equal(ev.sha256, undefined);
  assert.equal(await sha256sum('spray.bin'), `${sha(data)}  spray.bin\n`);
});

test('without the audit log and upload hooks: writes out of order keep nothing aside', async (t) => {
  // nothing reads the digest of an upload: a write out of order drops the hash, as it costs CPU and
  // memory (digests.ts); writes in order are still hashed and remembered for `sha256sum`, here for
  // a client that says it verifies its uploads (upload-digests.test.ts)
  const fx = fixture(t);
  const plain = await fx.server({ users: { ola: { home: true, key: true } } });
  const c = await connect(plain, plain.users.ola);
  fx.defer(() => c.end());
  const s = await openSftp(c, { [UPLOAD_DIGESTS_ENV]: '1' });
  const data = randomBytes(300 * 1024);
  await writeInOrder('/shuffled.bin', shuffled(data), s);
  await writeInOrder('/in-order.bin', [[0, data]], s);
  const home = plain.users.ola.home;
  assert.deepEqual(readFileSync(join(home, 'shuffled.bin')), data);
  assert.equal(remembered(join(home, 'shuffled.bin')), false, 'out of order: no digest kept');
  assert.equal(remembered(join(home, 'in-order.bin')), true, 'in order: remembered');
  // hashed again when asked, the same digest
  for (const name of ['shuffled.bin', 'in-order.bin'])
    assert.equal(await sha256sum(name, c), `${sha(data)}  ${name}\n`, name);
});

test('an upload hook alone (no audit log) gets the sha256 of a fastPut upload', async (t) => {
  const fx = fixture(t);
  const dir = fx.tempDir('jailsftp-order-hook-');
  const out = join(dir, 'hook.out');
  const hooked = await fx.server({
    users: { ola: { home: true, key: true } },
    config: {
      hooks: { upload: ['/bin/sh', '-c', `echo "$JAILSFTP_PATH $JAILSFTP_SHA256" >> '${out}'`] },
    },
  });
  const data = randomBytes(4 * 1024 * 1024 + 123);
  const local = join(dir, 'fast.bin');
  writeFileSync(local, data);
  await fastPuts(hooked, 'ola', local, ['/fast0.bin', '/fast1.bin']);
  // and one certainly out of order
  const c = await connect(hooked, hooked.users.ola);
  fx.defer(() => c.end());
  await writeInOrder('/shuffled.bin', shuffled(data), await openSftp(c));
  const lines = (): string[] =>
    existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean).sort() : [];
  await waitFor(() => lines().length === 3, 10000, 'the upload hooks');
  assert.deepEqual(lines(), [
    `/fast0.bin ${sha(data)}`,
    `/fast1.bin ${sha(data)}`,
    `/shuffled.bin ${sha(data)}`,
  ]);
});

test(
  'cluster mode: each node keeps writes out of order aside under its own config',
  { skip: needs('postgres') },
  async (t) => {
    // one store and homes directory; node 1 has an upload hook, node 2 neither hooks nor audit log
    const fx = fixture(t);
    const out = join(fx.tempDir('jailsftp-order-cluster-'), 'hook.out');
    const cl = await startCluster(
      fx,
      {
        hooks: { upload: ['/bin/sh', '-c', `echo "$JAILSFTP_PATH $JAILSFTP_SHA256" >> '${out}'`] },
      },
      1,
    );
    const hooked = cl.nodes[0]!;
    const plain = await fx.server({ config: { store: cl.db.url, homes: cl.homes } });
    const u = hooked.addUser('ola', { key: true });
    const data = randomBytes(300 * 1024);
    for (const [node, name] of [
      [hooked, 'a.bin'],
      [plain, 'b.bin'],
    ] as const) {
      const c = await connect(node, u);
      fx.defer(() => c.end());
      await writeInOrder(`/${name}`, shuffled(data), await openSftp(c));
    }
    await waitFor(() => existsSync(out), 10000, 'the upload hook');
    assert.equal(readFileSync(out, 'utf8'), `/a.bin ${sha(data)}\n`);
    const home = join(cl.homes, 'ola');
    assert.equal(remembered(join(home, 'a.bin')), true, 'node 1 (hook): the digest kept');
    assert.equal(remembered(join(home, 'b.bin')), false, 'node 2 (none): nothing kept aside');
    for (const name of ['a.bin', 'b.bin'])
      assert.deepEqual(readFileSync(join(home, name)), data, name);
  },
);

// The running hash itself (in this process): any order within its bounds gives the digest of the
// bytes in offset order; past a bound it is void and gives back everything it kept aside.
test('RunningHash: out of order within its bounds, void past them, nothing kept after', () => {
  const data = randomBytes(AHEAD_BYTES);
  const k = 4096;
  const starts: number[] = [];
  for (let at = 0; at < data.length; at += k) starts.push(at);
  // each write moved back by up to 40 places
  const order = starts.map((at, i) => ({ at, key: i + Math.random() * 40 }));
  order.sort((x, y) => x.key - y.key);
  const h = new RunningHash(true);
  for (const { at } of order) assert.equal(h.feed(at, data.subarray(at, at + k)), true);
  assert.equal(h.whole, true);
  assert.equal(h.pos, data.length);
  assert.equal(h.digest().toString('hex'), sha(data));
  assert.equal(aheadBytes(), 0);

  // too many writes kept aside
  const many = new RunningHash(true);
  for (let i = 1; i <= AHEAD_WRITES; i++) assert.equal(many.feed(2 * i, data.subarray(0, 1)), true);
  assert.ok(aheadBytes() > 0);
  assert.equal(many.feed(2 * AHEAD_WRITES + 2, data.subarray(0, 1)), false);
  assert.equal(many.valid, false);
  assert.equal(aheadBytes(), 0);

  // too many bytes kept aside: the gap at 0 never fills
  const big = new RunningHash(true);
  assert.equal(big.feed(1, data), true);
  assert.equal(big.feed(1 + data.length, data.subarray(0, 1)), false);
  assert.equal(aheadBytes(), 0);

  // all files together: past AHEAD_TOTAL the next one is dropped, and gives back its part
  const files = Array.from({ length: AHEAD_TOTAL / AHEAD_BYTES + 1 }, () => new RunningHash(true));
  const kept = files.map((f) => f.feed(1, data));
  assert.deepEqual(kept, [...kept.slice(0, -1).fill(true), false]);
  assert.equal(aheadBytes(), AHEAD_TOTAL);
  for (const f of files) f.release();
  assert.equal(aheadBytes(), 0);

  // overlaps: with bytes hashed, with a write kept aside (either side of it)
  for (const [at, len] of [
    [0, 10],
    [k - 1, 2],
    [2 * k + 10, 5],
    [2 * k - 5, 10],
    [3 * k - 1, 2],
  ] as const) {
    const o = new RunningHash(true);
    assert.equal(o.feed(0, data.subarray(0, k)), true);
    assert.equal(o.feed(2 * k, data.subarray(0, k)), true);
    assert.equal(o.feed(at, data.subarray(0, len)), false, `${at}+${len}`);
    assert.equal(aheadBytes(), 0);
  }

  // a released hash (a truncation, a failed write, the last close) gives back what it kept
  const r = new RunningHash(true);
  r.feed(k, data.subarray(0, k));
  r.release();
  assert.equal(aheadBytes(), 0);
  // without keepAhead (nothing reads the digest): a write out of order voids it, nothing is kept
  const plain = new RunningHash(false);
  assert.equal(plain.feed(0, data.subarray(0, k)), true);
  assert.equal(plain.feed(2 * k, data.subarray(0, k)), false);
  assert.equal(plain.valid, false);
  assert.equal(aheadBytes(), 0);
  const inOrder = new RunningHash(false);
  for (let at = 0; at < data.length; at += k) inOrder.feed(at, data.subarray(at, at + k));
  assert.equal(inOrder.whole, true);
  assert.equal(inOrder.digest().toString('hex'), sha(data));
});

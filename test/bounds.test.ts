// Issue 10: every cost a client chooses has a bound, checked before the work: each bound is tried
// just inside and just over. check-file blocks per reply, open handles per user, path length, READ
// length, WRITE packet size, names per READDIR, SETSTAT size and copy-data length against the quota.
import test from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Status } from '../common/wire.js';
import { fixture } from './helpers/fixture.js';
import { F, Pkt, rawSftp, T, type Raw } from './helpers/attack.js';
import { sleep } from './helpers/proc.js';

const KiB = 1024;
const MAX_PACKET = 256 * KiB;
const MAX_DATA = 255 * KiB;
const QUOTA = 1024 * KiB;

function checkFile(r: Raw, alg: string, length: number, block: number) {
  return r.ext('check-file-name', new Pkt().str('/data').str(alg).u64(0).u64(length).u32(block));
}

test('request costs are bounded before the work', { timeout: 300_000 }, async (t) => {
  const fx = fixture(t);
  const srv = await fx.server({
    users: { alice: { home: true }, bob: { home: true }, q: { quota: QUOTA, home: true } },
  });
  const { alice, bob, q } = srv.users;
  const data = randomBytes(16380 * 256 + 1);
  writeFileSync(join(alice.home, 'data'), data);
  const a = await rawSftp(srv, alice);
  fx.defer(() => a.end());

  await t.test('check-file: blocks that fit one reply, and one more', async () => {
    for (const [alg, max] of [
      ['sha256', 8190],
      ['md5', 16380],
      ['sha512', 4095],
    ] as const) {
      const fit = await checkFile(a, alg, max * 256, 256);
      assert.equal(fit.type, T.EXTENDED_REPLY, `${alg}: ${fit.code} ${fit.msg}`);
      assert.ok(fit.length <= MAX_PACKET);
      const over = await checkFile(a, alg, max * 256 + 1, 256);
      assert.equal(over.code, Status.FAILURE);
      assert.equal(
        over.msg,
        `too many blocks for one reply: ${max + 1} blocks of ${alg} (at most ${max}); use a larger block size`,
      );
    }
  });

  await t.test('open handles: 2048 per user over all its sessions, then refused', async () => {
    const rs = [a, await rawSftp(srv, alice), await rawSftp(srv, alice)];
    const replies = await Promise.all(
      rs.flatMap((r, i) =>
        Array.from({ length: i === 2 ? 2048 - 2 * 700 : 700 }, () => r.open('/data', F.READ)),
      ),
    );
    assert.ok(replies.every((r) => r.type === T.HANDLE));
    const over = await rs[2]!.open('/data', F.READ);
    assert.equal(over.code, Status.FAILURE);
    assert.equal(over.msg, 'too many open handles for this user (limit 2048)');
    const overDir = await rs[1]!.path(T.OPENDIR, '/');
    assert.equal(overDir.code, Status.FAILURE);
    // another user is not affected, and closing one handle makes room for one
    const b = await rawSftp(srv, bob);
    const other = await b.path(T.OPENDIR, '/');
    assert.equal(other.type, T.HANDLE, `another user: ${other.code} ${other.msg}`);
    await b.end();
    assert.equal((await rs[0]!.close(replies[0]!.handle!)).code, Status.OK);
    const room = await rs[2]!.open('/data', F.READ);
    assert.equal(room.type, T.HANDLE, `after a close: ${room.code} ${room.msg}`);
    await Promise.all([rs[1]!.end(), rs[2]!.end()]);
    // the ended sessions give their handles back
    let again = await a.path(T.OPENDIR, '/');
    for (let i = 0; i < 50 && again.type !== T.HANDLE; i++) {
      await sleep(100);
      again = await a.path(T.OPENDIR, '/');
    }
    assert.equal(again.type, T.HANDLE, `${again.code} ${again.msg}`);
  });

  await t.test('paths: 4096 bytes are looked up, 4097 are refused', async () => {
    const fit = await a.path(T.STAT, '/' + 'a/'.repeat(2047) + 'b');
    assert.equal(fit.code, Status.NO_SUCH_FILE, `${fit.code} ${fit.msg}`);
    const over = await a.path(T.STAT, '/' + 'a/'.repeat(2048));
    assert.equal(over.code, Status.BAD_MESSAGE);
    assert.equal(over.msg, 'path too long');
  });

  await t.test('READ: 255 KiB served, more is clamped to 255 KiB', async () => {
    const h = await a.openOk('/data', F.READ);
    for (const len of [MAX_DATA, MAX_DATA + 1, 0xffffffff]) {
      const r = await a.read(h, 0, len);
      assert.equal(r.type, T.DATA);
      assert.ok(r.data!.equals(data.subarray(0, MAX_DATA)), `READ ${len}`);
    }
    await a.close(h);
  });

  await t.test('WRITE: a packet of 256 KiB is taken, one byte more ends the session', async () => {
    const r = await rawSftp(srv, bob);
    const h = await r.openOk('/w', F.WRITE | F.CREAT);
    const body = MAX_PACKET - (1 + 4 + 4 + 4 + 8 + 4);
    const fit = await r.write(h, 0, Buffer.alloc(body, 7));
    assert.equal(fit.code, Status.OK, fit.msg);
    assert.equal(statSync(join(bob.home, 'w')).size, body);
    const over = await r.write(h, 0, Buffer.alloc(body + 1, 8));
    assert.equal(over.type, -1, 'session closed');
    await r.end();
    assert.equal(readFileSync(join(bob.home, 'w'))[0], 7, 'nothing of the oversized packet');
  });

  await t.test('READDIR: at most 100 names per reply, read as asked', async () => {
    mkdirSync(join(bob.home, 'many'));
    for (let i = 0; i < 250; i++)
      writeFileSync(join(bob.home, 'many', `n${'x'.repeat(200)}${i}`), '');
    const r = await rawSftp(srv, bob);
    const h = (await r.path(T.OPENDIR, '/many')).handle!;
    const counts: number[] = [];
    for (;;) {
      const rep = await r.req(T.READDIR, new Pkt().str(h));
      if (rep.type !== T.NAME) break;
      counts.push(rep.names!.length);
      assert.ok(rep.length <= MAX_PACKET);
    }
    assert.deepEqual(counts, [100, 100, 52]);
    await r.end();
  });

  await t.test('SETSTAT size: up to the free space, not a byte more', async () => {
    const r = await rawSftp(srv, q);
    await r.put('/f', Buffer.alloc(0));
    const over = await r.req(T.SETSTAT, new Pkt().str('/f').attrs({ size: QUOTA + 1 }));
    assert.equal(over.code, Status.FAILURE);
    assert.match(over.msg!, /^quota exceeded: 1\.0 MiB \(1048576 bytes\) free/);
    assert.equal(statSync(join(q.home, 'f')).size, 0, 'nothing changed');
    const fit = await r.req(T.SETSTAT, new Pkt().str('/f').attrs({ size: QUOTA }));
    assert.equal(fit.code, Status.OK, fit.msg);
    assert.equal(statSync(join(q.home, 'f')).size, QUOTA);
    assert.equal(await r.free(), 0);
    await r.path(T.REMOVE, '/f');
    await r.end();
  });

  await t.test('copy-data: up to the free space, not a byte more', async () => {
    const r = await rawSftp(srv, q);
    const src = randomBytes(512 * KiB);
    await r.put('/src', src);
    const s = await r.openOk('/src', F.READ);
    const d = await r.openOk('/dst', F.WRITE | F.CREAT | F.TRUNC);
    const fit = await r.ext(
      'copy-data',
      new Pkt()
        .str(s)
        .u64(0)
        .u64(512 * KiB)
        .str(d)
        .u64(0),
    );
    assert.equal(fit.code, Status.OK, fit.msg);
    assert.equal(await r.free(), 0);
    const d2 = await r.openOk('/dst2', F.WRITE | F.CREAT | F.TRUNC);
    const over = await r.ext('copy-data', new Pkt().str(s).u64(0).u64(1).str(d2).u64(0));
    assert.equal(over.code, Status.FAILURE);
    assert.match(over.msg!, /^quota exceeded: /);
    for (const h of [s, d, d2]) await r.close(h);
    assert.ok(readFileSync(join(q.home, 'dst')).equals(src));
    assert.equal(statSync(join(q.home, 'dst2')).size, 0);
    await r.end();
  });
});

// Issue 6, quota: whatever the clients do (many sessions, many handles, huge offsets and sizes,
// copy-data, rename over files, resume, dropped connections, deletes during writes), the sum of
// the file sizes in a home stays within the quota, and the server's live ledger (statvfs free
// space = quota - used, through a session held open all along) equals what is on disk.
import test from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Status } from '../common/wire.js';
import { useServer } from './helpers/fixture.js';
import {
  Canaries,
  F,
  freshLogin,
  Pkt,
  rawSftp,
  rss,
  T,
  type Raw,
  type Reply,
} from './helpers/attack.js';
import { sha256, usage } from './helpers/files.js';
import { sleep } from './helpers/run.js';

const QUOTA = 4 * 1024 * 1024;
const CHUNK = 32 * 1024;

/** Writes `total` bytes to path in CHUNK writes, `depth` in flight; counts what each reply said. */
async function fill(
  r: Raw,
  path: string,
  total: number,
  opts: { flags?: number; depth?: number; handle?: Buffer; start?: number } = {},
): Promise<{ ok: number; failed: number; messages: Set<string>; handle: Buffer }> {
  const h = opts.handle ?? (await r.openOk(path, opts.flags ?? F.WRITE | F.CREAT | F.TRUNC));
  const depth = opts.depth ?? 32;
  const data = randomBytes(CHUNK);
  let ok = 0;
  let failed = 0;
  const messages = new Set<string>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const off = next;
      next += CHUNK;
      const rep = await r.write(
        h,
        (opts.start ?? 0) + off,
        data.subarray(0, Math.min(CHUNK, total - off)),
      );
      if (rep.code === Status.OK) ok++;
      else {
        failed++;
        messages.add(`${rep.code} ${rep.msg}`);
      }
      if (rep.type === -1) return;
    }
  };
  await Promise.all(Array.from({ length: depth }, worker));
  return { ok, failed, messages, handle: h };
}

test('quota attacks', { timeout: 600_000 }, async (t) => {
  const srv = await useServer(t);
  const user = srv.addUser('quser', { quota: QUOTA });
  const can = new Canaries(srv, t);
  // held open all along, so that the ledger stays the live one
  const watcher = await rawSftp(srv, user);

  const check = async (what: string): Promise<void> => {
    const disk = usage(user.home);
    assert.ok(disk <= QUOTA, `${what}: ${disk} bytes on disk > quota ${QUOTA}`);
    const free = await watcher.free();
    assert.equal(
      free,
      Math.floor((QUOTA - disk) / 1024) * 1024,
      `${what}: ledger says ${QUOTA - free} used, disk has ${disk}`,
    );
    can.check();
    assert.ok(rss(srv.proc.pid!) < 256 * 1024 * 1024);
  };
  const clear = async (): Promise<void> => {
    for (const n of readdirSync(user.home)) {
      const rep = await watcher.path(T.REMOVE, `/${n}`);
      assert.equal(rep.code, Status.OK, `remove ${n}: ${rep.msg}`);
    }
    await check('after clearing');
  };

  await t.test('N parallel sessions each write the whole free space', async () => {
    const n = 4;
    const sessions = await Promise.all(Array.from({ length: n }, () => rawSftp(srv, user)));
    const res = await Promise.all(sessions.map((s, i) => fill(s, `/par-${i}`, QUOTA)));
    await Promise.all(sessions.map((s, i) => s.close(res[i]!.handle)));
    const written = res.reduce((a, r) => a + r.ok, 0) * CHUNK;
    assert.ok(written <= QUOTA, `${written} bytes acknowledged`);
    assert.ok(written >= QUOTA - n * CHUNK, `only ${written} bytes acknowledged`);
    assert.ok(res.some((r) => [...r.messages].some((m) => /^4 quota exceeded: /.test(m))));
    await Promise.all(sessions.map((s) => s.end()));
    await check('parallel sessions');
    await clear();
  });

  await t.test('N handles of one session each write the whole free space', async () => {
    const s = await rawSftp(srv, user);
    const res = await Promise.all(
      [0, 1, 2, 3, 4, 5].map((i) => fill(s, `/h-${i}`, QUOTA, { depth: 8 })),
    );
    const written = res.reduce((a, r) => a + r.ok, 0) * CHUNK;
    assert.ok(written <= QUOTA);
    // the same file through several handles, at overlapping and different offsets
    const hs = await Promise.all([0, 1, 2].map(() => s.openOk('/h-0', F.WRITE)));
    await Promise.all(
      hs.map((h, i) => fill(s, '', QUOTA, { handle: h, start: i * 1000, depth: 4 })),
    );
    await check('many handles, open');
    await Promise.all([...hs, ...res.map((r) => r.handle)].map((h) => s.close(h)));
    await s.end();
    await check('many handles');
    await clear();
  });

  await t.test('1 byte at offset 2^40, SETSTAT and FSETSTAT size 2^40', async () => {
    const s = await rawSftp(srv, user);
    const h = await s.openOk('/big', F.WRITE | F.CREAT | F.TRUNC);
    const w = await s.write(h, 2 ** 40, Buffer.from('x'));
    assert.equal(w.code, Status.FAILURE);
    assert.match(w.msg!, /^quota exceeded: /);
    const fs1 = await s.req(T.FSETSTAT, new Pkt().str(h).attrs({ size: 2 ** 40 }));
    assert.equal(fs1.code, Status.FAILURE);
    assert.match(fs1.msg!, /^quota exceeded: /);
    const ss = await s.req(T.SETSTAT, new Pkt().str('/big').attrs({ size: 2 ** 40 }));
    assert.match(ss.msg!, /^quota exceeded: /);
    // past 2^53 and at 2^64-1: a status, not a crash
    const w2 = await s.write(h, 2n ** 64n - 1n, Buffer.from('x'));
    assert.equal(w2.type, T.STATUS);
    assert.notEqual(w2.code, Status.OK);
    const ss2 = await s.req(T.SETSTAT, new Pkt().str('/big').attrs({ size: 2n ** 63n }));
    assert.notEqual(ss2.code, Status.OK);
    // exactly the quota fits, one more byte does not
    const fit = await s.req(T.FSETSTAT, new Pkt().str(h).attrs({ size: QUOTA }));
    assert.equal(fit.code, Status.OK, fit.msg);
    assert.equal((await s.write(h, QUOTA, Buffer.from('y'))).code, Status.FAILURE);
    assert.equal((await s.write(h, QUOTA - 1, Buffer.from('y'))).code, Status.OK);
    await s.close(h);
    assert.equal(statSync(join(user.home, 'big')).size, QUOTA);
    await s.end();
    await check('huge sizes');
    await clear();
  });

  await t.test('OPEN with TRUNC while over quota frees space', async () => {
    const s = await rawSftp(srv, user);
    await fill(s, '/over', QUOTA).then((r) => s.close(r.handle));
    await s.end();
    // the admin lowers the quota below what is stored: the next login counts it
    assert.equal(srv.cli(['user', 'quota', user.name, String(QUOTA / 2)]).status, 0);
    const s2 = await rawSftp(srv, user);
    const w = await s2.openOk('/other', F.WRITE | F.CREAT);
    assert.match((await s2.write(w, 0, Buffer.from('x'))).msg!, /^quota exceeded: 0 B free/);
    const h = await s2.openOk('/over', F.WRITE | F.TRUNC);
    assert.equal((await s2.write(h, 0, Buffer.alloc(1000))).code, Status.OK);
    await s2.close(h);
    await s2.close(w);
    assert.equal(statSync(join(user.home, 'over')).size, 1000);
    assert.equal(srv.cli(['user', 'quota', user.name, String(QUOTA)]).status, 0);
    await s2.end();
    // a new login refreshes the limit of the live ledger
    const s3 = await rawSftp(srv, user);
    await s3.end();
    await check('trunc over quota');
    await clear();
  });

  await t.test('copy-data over the limit', async () => {
    const s = await rawSftp(srv, user);
    const src = randomBytes(QUOTA * 0.6);
    await s.put('/src', src);
    const a = await s.openOk('/src', F.READ);
    const b = await s.openOk('/dst', F.WRITE | F.CREAT | F.TRUNC);
    const rep = await s.ext('copy-data', new Pkt().str(a).u64(0).u64(0).str(b).u64(0));
    assert.equal(rep.code, Status.FAILURE);
    assert.match(rep.msg!, /^quota exceeded: /);
    // copy onto itself at an offset past the quota
    const c = await s.openOk('/src', F.READ | F.WRITE);
    const rep2 = await s.ext('copy-data', new Pkt().str(c).u64(0).u64(0).str(c).u64(QUOTA));
    assert.equal(rep2.code, Status.FAILURE);
    await s.close(a);
    await s.close(b);
    await s.close(c);
    const dst = readFileSync(join(user.home, 'dst'));
    assert.ok(dst.equals(src.subarray(0, dst.length)), 'copied prefix is the source');
    await s.end();
    await check('copy-data');
    await clear();
  });

  await t.test('rename over an existing file (closed and open) gives its space back', async () => {
    const s = await rawSftp(srv, user);
    const third = Math.floor(QUOTA / 3);
    await s.put('/a', randomBytes(third));
    await s.put('/b', randomBytes(third));
    await s.put('/c', randomBytes(third));
    await check('three files');
    const rn = await s.ext('posix-rename@openssh.com', new Pkt().str('/a').str('/b'));
    assert.equal(rn.code, Status.OK, rn.msg);
    await check('rename over closed file');
    // the target is open for writing in another session while it is replaced
    const o = await rawSftp(srv, user);
    const hb = await o.openOk('/b', F.WRITE);
    const rn2 = await s.ext('posix-rename@openssh.com', new Pkt().str('/c').str('/b'));
    assert.equal(rn2.code, Status.OK, rn2.msg);
    // the replaced inode is still open: writing to it is still counted until it closes
    assert.equal((await o.write(hb, third, Buffer.alloc(1000))).code, Status.OK);
    await o.close(hb);
    await check('rename over open file');
    // v3 RENAME refuses an existing target
    await s.put('/d', Buffer.from('d'));
    const rn3 = await s.req(T.RENAME, new Pkt().str('/d').str('/b'));
    assert.equal(rn3.code, Status.FAILURE);
    await o.end();
    await s.end();
    await check('rename');
    await clear();
  });

  await t.test('resume without APPEND up to exactly the quota', async () => {
    const s = await rawSftp(srv, user);
    const data = randomBytes(QUOTA);
    await s.put('/resume', data.subarray(0, 1000));
    const h = await s.openOk('/resume', F.WRITE);
    const r = await fill(s, '', QUOTA, { handle: h, start: 0 });
    assert.equal(r.failed, 0);
    assert.equal((await s.write(h, QUOTA, Buffer.from('!'))).code, Status.FAILURE);
    // APPEND at the end: refused too
    const ha = await s.openOk('/resume', F.WRITE | F.APPEND);
    assert.equal((await s.write(ha, 0, Buffer.from('!'))).code, Status.FAILURE);
    await s.close(ha);
    await s.close(h);
    assert.equal(statSync(join(user.home, 'resume')).size, QUOTA);
    await s.end();
    await check('resume');
    await clear();
  });

  await t.test('dropping the connection mid-write', async () => {
    for (let i = 0; i < 3; i++) {
      const s = await rawSftp(srv, user);
      const h = await s.openOk(`/drop-${i}`, F.WRITE | F.CREAT);
      const data = randomBytes(CHUNK);
      for (let k = 0; k < 200; k++) void s.write(h, k * CHUNK, data);
      await sleep(30 + 40 * i);
      s.drop();
      await s.done;
    }
    // the server closes the dropped sessions' handles; the ledger settles
    let last = '';
    for (let k = 0; k < 50; k++) {
      try {
        await check('dropped connections');
        last = '';
        break;
      } catch (e) {
        last = (e as Error).message;
        await sleep(200);
      }
    }
    assert.equal(last, '');
    await clear();
  });

  await t.test('deleting a file while another session writes it', async () => {
    const a = await rawSftp(srv, user);
    const b = await rawSftp(srv, user);
    const h = await a.openOk('/victim', F.WRITE | F.CREAT | F.TRUNC);
    const writing = fill(a, '', QUOTA * 2, { handle: h, depth: 8 });
    await sleep(50);
    assert.equal((await b.path(T.REMOVE, '/victim')).code, Status.OK);
    // meanwhile b fills what the ledger says is free: it must not pass the quota together
    const other = fill(b, '/other', QUOTA, { depth: 8 });
    const [ra, rb] = await Promise.all([writing, other]);
    // the removed inode stays counted while it is open: together they stay within the quota
    assert.ok((ra.ok + rb.ok) * CHUNK <= QUOTA, `${(ra.ok + rb.ok) * CHUNK} acknowledged`);
    const free = await watcher.free();
    assert.equal(QUOTA - free - usage(user.home), ra.ok * CHUNK, 'open unlinked inode counted');
    await a.close(h);
    await b.close(rb.handle);
    await a.end();
    await b.end();
    await check('delete while writing');
    await clear();
  });

  await t.test('the server still serves a fresh login, data intact', async () => {
    const s = await rawSftp(srv, user);
    const data = randomBytes(100_000);
    assert.ok((await s.put('/final', data)).every((x) => x.code === Status.OK));
    await s.end();
    assert.equal(sha256(readFileSync(join(user.home, 'final'))), sha256(data));
    await freshLogin(srv, user);
    await check('final');
    const r: Reply = await watcher.path(T.REALPATH, '.');
    assert.equal(r.type, T.NAME);
    await watcher.end();
  });
});

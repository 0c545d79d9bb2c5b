// Issue 6, resources: handle floods, a READ flood from a client that stops reading, READ lengths
// and packet lengths that lie, big directories listed at once, check-file of a big sparse file.
// Each ends with: the server still serves a fresh login, its memory bounded, nothing leaked.
import test from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AttrFlag, MAX_DATA, MAX_PACKET, Status } from '../common/wire.js';
import { useServer } from './helpers/fixture.js';
import { bigDirectory, download, RSS_LIMIT, sparseCheckFile } from './helpers/attack-resources.js';
import {
  Canaries,
  F,
  fdCount,
  freshLogin,
  MB,
  Pkt,
  rawSftp,
  rss,
  rssSampler,
  T,
} from './helpers/attack.js';
import { sleep } from './helpers/run.js';

test('resource attacks', { timeout: 600_000 }, async (t) => {
  const srv = await useServer(t);
  const pid = srv.proc.pid!;
  const alice = srv.addUser('alice', { home: true });
  const bob = srv.addUser('bob', { home: true });
  const can = new Canaries(srv, t);
  const after = async (): Promise<void> => {
    can.check();
    await freshLogin(srv, alice);
    await freshLogin(srv, bob);
    assert.ok(rss(pid) < RSS_LIMIT, `server RSS ${rss(pid)}`);
  };
  writeFileSync(join(alice.home, 'file'), randomBytes(1024));
  const FLOOD_FILE = 16 * MB;
  writeFileSync(join(alice.home, 'flood'), randomBytes(FLOOD_FILE));
  writeFileSync(join(bob.home, 'speed'), randomBytes(32 * MB));
  await freshLogin(srv, alice);
  const baseFds = fdCount(pid);

  await t.test('100,000 OPEN and OPENDIR without CLOSE', async () => {
    const r = await rawSftp(srv, alice);
    let handles = 0;
    let limited = 0;
    const other = new Map<string, number>();
    const N = 100_000;
    let sent = 0;
    const worker = async (): Promise<void> => {
      while (sent < N) {
        const i = sent++;
        const rep = i % 2 === 0 ? await r.open('/file', F.READ) : await r.path(T.OPENDIR, '/');
        if (rep.type === T.HANDLE) handles++;
        else if (/^too many open handles/.test(rep.msg ?? '')) limited++;
        else other.set(`${rep.type} ${rep.code} ${rep.msg}`, (other.get(`${rep.type}`) ?? 0) + 1);
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 128 }, worker));
    t.diagnostic(
      `${N} opens in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${handles} handles, ` +
        `${limited} refused; server fds ${fdCount(pid)} (baseline ${baseFds})`,
    );
    assert.deepEqual([...other.keys()], []);
    assert.equal(handles, 1024);
    assert.equal(limited, N - 1024);
    assert.ok(await r.free()); // the session still answers
    await r.end();
    let fds = fdCount(pid);
    for (let i = 0; i < 50 && fds > baseFds + 2; i++) {
      await sleep(100);
      fds = fdCount(pid);
    }
    assert.ok(fds <= baseFds + 2, `server holds ${fds} fds after disconnect (baseline ${baseFds})`);
    await after();
  });

  await t.test('50,000 pipelined READs from a client that stops reading', async () => {
    const baseline = await download(await rawSftp(srv, bob), '/speed', 32 * MB);
    const r = await rawSftp(srv, alice);
    const h = await r.openOk('/flood', F.READ);
    r.ch.pause(); // stop reading: SSH flow control must stop the server
    const sampler = rssSampler(pid);
    const L = MAX_DATA;
    for (let i = 0; i < 50_000; i++) void r.read(h, (i % 64) * L, L);
    await sleep(3000);
    const b = await rawSftp(srv, bob);
    const during = await download(b, '/speed', 32 * MB);
    await b.end();
    await sleep(1000);
    const peak = sampler.stop();
    t.diagnostic(
      `READ flood: server RSS peak ${(peak / MB).toFixed(0)} MB; bob ${baseline.toFixed(0)} MB/s ` +
        `before, ${during.toFixed(0)} MB/s during`,
    );
    assert.ok(peak < RSS_LIMIT, `RSS peak ${peak}`);
    assert.ok(during > baseline * 0.25, `bob slowed from ${baseline} to ${during} MB/s`);
    r.drop();
    await r.done;
    await after();
  });

  await t.test('READ with length 0xFFFFFFFF is clamped', async () => {
    const r = await rawSftp(srv, alice);
    const h = await r.openOk('/flood', F.READ);
    const rep = await r.read(h, 0, 0xffffffff);
    assert.equal(rep.type, T.DATA);
    assert.equal(rep.data!.length, MAX_DATA);
    const rep2 = await r.read(h, 2 ** 52, 0xffffffff);
    assert.equal(rep2.code, Status.EOF);
    await r.end();
    await after();
  });

  await t.test('packets whose lengths lie', async () => {
    const cases: Array<[string, Buffer, 'status' | 'reply' | 'closed']> = [
      // a string length beyond the packet: a status for that request
      ['path length past the end', pkt(T.STAT, 7, Buffer.from([0, 0, 0, 50, 0x2f])), 'status'],
      ['path length 0xFFFFFFFF', pkt(T.OPEN, 7, Buffer.from([255, 255, 255, 255])), 'status'],
      ['handle length past the end', pkt(T.READ, 7, Buffer.from([0, 0, 1, 0, 1, 2])), 'status'],
      ['truncated READ', pkt(T.READ, 7, new Pkt().str(Buffer.alloc(4)).u32(0).build()), 'status'],
      [
        'attrs extended count 0xFFFFFFFF',
        pkt(T.SETSTAT, 7, new Pkt().str('/x').u32(AttrFlag.EXTENDED).u32(0xffffffff).build()),
        'status',
      ],
      [
        'WRITE data length past the end',
        pkt(T.WRITE, 7, new Pkt().str(Buffer.alloc(4)).u64(0).u32(1000).build()),
        'status',
      ],
      ['unknown type', pkt(99, 7, Buffer.alloc(3)), 'status'],
      ['EXTENDED name past the end', pkt(T.EXTENDED, 7, Buffer.from([0, 0, 0, 9, 0x61])), 'status'],
      // trailing bytes are ignored, as OpenSSH's sftp-server does: any reply, in its turn
      [
        'trailing garbage after a STAT',
        pkt(T.STAT, 7, new Pkt().str('/').raw(randomBytes(100)).build()),
        'reply',
      ],
      // framing lies: the connection of this client closes
      ['packet length 0', Buffer.from([0, 0, 0, 0]), 'closed'],
      [
        'packet length 2^32-1',
        Buffer.concat([lenOnly(0xffffffff), Buffer.from([T.OPEN, 0, 0, 0, 1])]),
        'closed',
      ],
      ['packet length 256 KiB + 1', lenOnly(MAX_PACKET + 1), 'closed'],
      ['packet of 3 bytes (no id)', Buffer.from([0, 0, 0, 3, T.STAT, 0, 0]), 'closed'],
      [
        'second INIT (version 7, read as id 7)',
        Buffer.from([0, 0, 0, 5, T.INIT, 0, 0, 0, 7]),
        'status',
      ],
    ];
    for (const [what, bytes, want] of cases) {
      const r = await rawSftp(srv, alice);
      r.sendRaw(bytes);
      if (want !== 'closed') {
        const rep = await r.req(T.REALPATH, new Pkt().str('/'), 8);
        const first = r.stray.find((s) => s.id === 7);
        if (want === 'status') assert.equal(first?.type, T.STATUS, `${what}: no status reply`);
        else assert.ok(first, `${what}: no reply`);
        if (want === 'status') assert.notEqual(first?.code, Status.OK, `${what}: OK`);
        assert.equal(rep.type, T.NAME, `${what}: session stopped answering`);
      } else {
        const res = await Promise.race([
          r.done.then(() => 'closed'),
          sleep(5000).then(() => 'open'),
        ]);
        assert.equal(res, 'closed', `${what}: connection stays open`);
      }
      await r.end();
    }
    // a length that promises more than ever comes: the request waits, others' sessions go on
    const r = await rawSftp(srv, alice);
    r.sendRaw(lenOnly(1000));
    await freshLogin(srv, alice);
    r.drop();
    await r.done;
    await after();
  });

  await t.test('a directory of 20,000 entries listed by 3 clients at once', async () => {
    const { peak, maxReply } = await bigDirectory(srv, alice, 20_000, 3);
    t.diagnostic(
      `big directory: RSS peak ${(peak / MB).toFixed(0)} MB, largest reply ${maxReply} B`,
    );
    assert.ok(maxReply < MAX_PACKET);
    await after();
  });

  await t.test('check-file of a 1 GiB sparse file while others are served', async () => {
    const { seconds, maxLatency } = await sparseCheckFile(srv, alice, 1024 * MB);
    t.diagnostic(
      `check-file 1 GiB: ${seconds.toFixed(1)} s; slowest STAT meanwhile ${maxLatency.toFixed(0)} ms`,
    );
    assert.ok(maxLatency < 1000, `a STAT took ${maxLatency} ms during the hash`);
    await after();
  });
});

function pkt(type: number, id: number, body: Buffer): Buffer {
  const b = Buffer.alloc(9 + body.length);
  b.writeUInt32BE(5 + body.length, 0);
  b[4] = type;
  b.writeUInt32BE(id, 5);
  body.copy(b, 9);
  return b;
}

function lenOnly(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

// Larger SSH channel packets (our ssh2 patch, patches/ssh2+1.17.0.patch; common/ssh-channel.ts).
// The server advertises CHANNEL_PACKET_SIZE (stock ssh2: 32 KiB) and accepts packets that large, so
// that an ssh2 client's 255 KiB WRITE travels as one SSH packet; our ssh2 clients advertise the same
// (and an 8 MiB window), so that the server's 255 KiB READ replies travel whole too, while a stock
// client still gets 32 KiB packets. Observed on the wire through ssh2's debug output (the size of
// each CHANNEL_DATA sent and received) and OpenSSH's (the channel's advertised maximum); the bytes
// are checked by sha256.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import SftpClient from 'ssh2-sftp-client';
import { CHANNEL_PACKET_SIZE, CLIENT_CHANNEL } from '../common/ssh-channel.js';
import { sftpBatch, ssh2SftpKey } from './helpers/clients.js';
import { useServer } from './helpers/fixture.js';
import { randomFile, sha256 } from './helpers/files.js';
import type { TestServer, TestUser } from './helpers/server.js';

const STOCK_PACKET = 32 * 1024;
const CHUNK = 255 * 1024;

/** The largest CHANNEL_DATA payload a client sent and received, from ssh2's debug lines. */
class PacketSizes {
  sent = 0;
  received = 0;
  log = (line: string): void => {
    const m = /(Sending|Inbound:) CHANNEL_DATA \(r:\d+, (\d+)\)/.exec(line);
    if (!m) return;
    const n = Number(m[2]);
    if (m[1] === 'Sending') this.sent = Math.max(this.sent, n);
    else this.received = Math.max(this.received, n);
  };
}

async function connect(
  srv: TestServer,
  u: TestUser,
  sizes: PacketSizes,
  ours: boolean,
): Promise<SftpClient> {
  const c = await ssh2SftpKey(srv, u, {
    debug: sizes.log,
    ...(ours ? CLIENT_CHANNEL : {}),
  });
  return c;
}

test('SSH channel packets of 255 KiB SFTP requests', async (t) => {
  const srv = await useServer(t);
  const u = srv.addUser('pia', { key: true, home: true });
  const src = join(srv.dir, 'src.bin');
  const want = randomFile(src, 3 * 1024 * 1024 + 12345);

  await t.test('a stock ssh2 client uploads 255 KiB WRITEs in one packet each', async () => {
    const sizes = new PacketSizes();
    const c = await connect(srv, u, sizes, false);
    try {
      await c.fastPut(src, '/up.bin', { chunkSize: CHUNK });
      // and downloads in the 32 KiB packets it advertises
      await c.fastGet('/up.bin', join(srv.dir, 'back-stock.bin'), { chunkSize: CHUNK });
    } finally {
      await c.end();
    }
    assert.ok(sizes.sent > CHUNK && sizes.sent <= CHANNEL_PACKET_SIZE, `sent ${sizes.sent}`);
    assert.equal(sizes.received, STOCK_PACKET);
    assert.equal(sha256(readFileSync(join(u.home, 'up.bin'))), want);
    assert.equal(sha256(readFileSync(join(srv.dir, 'back-stock.bin'))), want);
  });

  await t.test('our ssh2 client gets 255 KiB READ replies in one packet each', async () => {
    const sizes = new PacketSizes();
    const c = await connect(srv, u, sizes, true);
    try {
      await c.fastGet('/up.bin', join(srv.dir, 'back.bin'), { chunkSize: CHUNK });
    } finally {
      await c.end();
    }
    assert.ok(
      sizes.received > CHUNK && sizes.received <= CHANNEL_PACKET_SIZE,
      `received ${sizes.received}`,
    );
    assert.equal(sha256(readFileSync(join(srv.dir, 'back.bin'))), want);
  });

  await t.test('OpenSSH sees the larger maximum and uploads intact', async () => {
    const r = await sftpBatch(srv, u, `put ${src} /ossh.bin\n`, {
      extra: ['-vv'],
    });
    assert.equal(r.status, 0, r.stderr);
    const m = /open confirm rwindow (\d+) rmax (\d+)/.exec(r.stderr);
    assert.ok(m, 'ssh -vv reports the channel confirmation');
    assert.equal(Number(m[2]), CHANNEL_PACKET_SIZE);
    assert.equal(sha256(readFileSync(join(u.home, 'ossh.bin'))), want);
  });
});

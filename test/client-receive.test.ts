// The download's receive path on its own: the socket read in large pieces of fresh memory
// (client/socket.ts) and READ replies handed over without a copy (Remote.readView, our ssh2 patch).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { login } from '../client/connect.js';
import { Remote } from '../client/remote.js';
import { connectTcp } from '../client/socket.js';
import { OpenFlag, Status } from '../common/wire.js';
import { fixture } from './helpers/fixture.js';

test('socket reads: pieces larger than 64 KiB, none overwritten by a later read', async (t) => {
  const data = Buffer.alloc(8 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + (i >> 13)) & 0xff;
  const srv = createServer((c) => c.end(data));
  t.after(() => srv.close());
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const sock = connectTcp('127.0.0.1', (srv.address() as AddressInfo).port);
  const chunks: Buffer[] = [];
  sock.on('data', (d: Buffer) => {
    chunks.push(d);
    // a slow reader, as a busy client is: data queues up in the kernel meanwhile
    const until = Date.now() + 2;
    while (Date.now() < until);
  });
  await once(sock, 'end');
  sock.destroy();
  // every piece is still what it was when it arrived: read memory is never reused
  assert.ok(Buffer.concat(chunks).equals(data), 'the pieces kept make up what was sent');
  const largest = Math.max(...chunks.map((c) => c.length));
  // node's own reads are at most 64 KiB
  assert.ok(largest > 65536, `largest read ${largest} bytes (${chunks.length} reads)`);
});

test('readView: the bytes of a range, kept intact while later replies arrive; EOF is an error', async (t) => {
  const fx = fixture(t);
  const srv = await fx.server();
  const u = srv.addUser('alice', { key: true });
  const data = Buffer.alloc(3 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 11)) & 0xff;
  mkdirSync(u.home, { recursive: true });
  writeFileSync(join(u.home, 'data.bin'), data);
  const saved = process.env.JAILSFTP_KNOWN_HOSTS;
  process.env.JAILSFTP_KNOWN_HOSTS = join(fx.tempDir('jailsftp-kh-'), 'known_hosts');
  fx.defer(() => {
    if (saved === undefined) delete process.env.JAILSFTP_KNOWN_HOSTS;
    else process.env.JAILSFTP_KNOWN_HOSTS = saved;
  });
  const conn = await login({
    host: srv.host,
    port: srv.port,
    user: u.name,
    identity: u.keyFile,
    yes: true,
    interactive: false,
    out: () => undefined,
    err: () => undefined,
  });
  fx.defer(() => conn.end());
  const remote = new Remote(conn.sftp, conn.ssh, conn.sock);
  const h = await remote.open('/data.bin', OpenFlag.READ);
  const chunk = remote.chunkSizes().read;
  const read = (len: number, pos: number): Promise<Buffer> =>
    new Promise((resolve, reject) =>
      remote.readView(h, len, pos, (err, d) => (err ? reject(err) : resolve(d))),
    );
  // all at once: many replies in flight, kept until the end
  const got = await Promise.all(
    Array.from({ length: Math.ceil(data.length / chunk) }, (_, i) => read(chunk, i * chunk)),
  );
  assert.ok(Buffer.concat(got).equals(data));
  assert.deepEqual(await read(10, data.length - 4), data.subarray(data.length - 4));
  await assert.rejects(read(10, data.length), (err: Error & { code?: number }) => {
    assert.equal(err.code, Status.EOF);
    return true;
  });
  assert.throws(() => remote.readView(h, chunk + 1, 0, () => undefined), /length out of range/);
  await remote.close(h);
});

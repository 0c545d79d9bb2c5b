// The server's answer to a peer's packet that nothing it is about to send would acknowledge (our
// ssh2 patch, patches/ssh2+1.17.0.patch, Server option ackWithIgnore, Channel.js ackWhileBlocked and
// ackWindowAdjust): an SSH_MSG_IGNORE, at most one per chunk of input, so that the TCP ACK leaves at
// once. Without it a stock ssh2-sftp-client fastGet stalled for the kernel's delayed-ACK timer
// (40 ms) on loopback, its Nagle holding its next small packets behind one the idle server did not
// ACK: with 255 KiB chunks ~20 times per 256 MiB (the window adjust behind a READ, while the server
// was out of window), with the default 32 KiB chunks ~60 times (the READs behind the window adjust,
// while the server had sent every reply). See bench/README.md. Observed through the clients' debug
// output (IGNOREs received, packets sent); the bytes are checked by sha256.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sftpBatch, ssh2SftpKey } from './helpers/clients.js';
import { useServer } from './helpers/fixture.js';
import { randomFile, sha256, sha256File } from './helpers/files.js';
import type { TestServer, TestUser } from './helpers/server.js';

const MiB = 1024 * 1024;

/** IGNORE messages a stock ssh2 client received and packets it sent, from ssh2's debug lines. */
class Counts {
  ignores = 0;
  sent = 0;
  log = (line: string): void => {
    if (line.includes('Inbound: Received IGNORE')) this.ignores++;
    else if (line.startsWith('Outbound: Sending CHANNEL_')) this.sent++;
  };
}

type Transfer = 'fastGet 255 KiB' | 'fastGet' | 'get';

async function download(
  srv: TestServer,
  u: TestUser,
  how: Transfer,
  remote: string,
  local: string,
): Promise<Counts> {
  const counts = new Counts();
  // stock settings: ssh2's 2 MiB window and 32 KiB packets, Nagle on
  const c = await ssh2SftpKey(srv, u, { debug: counts.log });
  try {
    if (how === 'fastGet 255 KiB')
      await c.fastGet(remote, local, { chunkSize: 255 * 1024, concurrency: 64 });
    // ssh2-sftp-client's defaults: 32 KiB chunks, 64 in flight
    else if (how === 'fastGet') await c.fastGet(remote, local);
    // a read stream: one READ in flight
    else await c.get(remote, local);
  } finally {
    await c.end();
  }
  return counts;
}

test('a peer packet that nothing would acknowledge is answered at once', async (t) => {
  const srv = await useServer(t);
  const u = srv.addUser('sid', { key: true, home: true });
  const want = randomFile(join(u.home, 'big.bin'), 64 * MiB + 4321);

  await t.test('stock ssh2-sftp-client fastGet, 255 KiB x 64: IGNOREs, bytes intact', async () => {
    const local = join(srv.dir, 'big-back.bin');
    const n = await download(srv, u, 'fastGet 255 KiB', '/big.bin', local);
    assert.equal(sha256File(local), want);
    // 16 MiB of READs in flight against a 2 MiB window: the server is out of window whenever the
    // client's next READs arrive, so it answers them
    assert.ok(n.ignores > 0, `no IGNORE received (${n.sent} packets sent)`);
    // at most one per chunk the server read, so never more than the packets the client sent
    assert.ok(n.ignores <= n.sent, `${n.ignores} IGNOREs for ${n.sent} packets`);
  });

  await t.test('stock ssh2-sftp-client fastGet, 32 KiB x 64: IGNOREs, bytes intact', async () => {
    // 64 READs of 32 KiB about fill the 2 MiB window: the client's window adjust, sent after
    // each MiB it took, often reaches a server that has sent every reply, is not out of window,
    // and waits for the READs that the client's Nagle holds behind that adjust
    const local = join(srv.dir, 'big-back32.bin');
    const n = await download(srv, u, 'fastGet', '/big.bin', local);
    assert.equal(sha256File(local), want);
    // 64 window adjusts: most arrive in a chunk of their own and are answered
    assert.ok(n.ignores >= 16, `${n.ignores} IGNOREs received (${n.sent} packets sent)`);
    assert.ok(n.ignores <= n.sent, `${n.ignores} IGNOREs for ${n.sent} packets`);
  });

  await t.test('a window adjust while nothing waits is answered', async () => {
    // one READ in flight: the server is never out of window, and has nothing to send whenever
    // the client's window adjust arrives (one per MiB it took)
    const want4 = randomFile(join(u.home, 'four.bin'), 4 * MiB);
    const local = join(srv.dir, 'four-back.bin');
    const n = await download(srv, u, 'get', '/four.bin', local);
    assert.equal(sha256(readFileSync(local)), want4);
    assert.ok(n.ignores >= 1, `no IGNORE received (${n.sent} packets sent)`);
    assert.ok(n.ignores <= n.sent, `${n.ignores} IGNOREs for ${n.sent} packets`);
  });

  await t.test('no IGNORE while the window suffices and no adjust is due', async () => {
    // 512 KiB: the replies fit in the client's 2 MiB window (the server is never out of window),
    // and the client takes less than the 1 MiB after which it adjusts the window
    const want1 = randomFile(join(u.home, 'half.bin'), MiB / 2);
    const local = join(srv.dir, 'half-back.bin');
    const n = await download(srv, u, 'fastGet 255 KiB', '/half.bin', local);
    assert.equal(sha256(readFileSync(local)), want1);
    assert.equal(n.ignores, 0);
  });

  await t.test('OpenSSH sftp receives the IGNOREs and downloads intact', async () => {
    const local = join(srv.dir, 'big-ossh.bin');
    const r = await sftpBatch(srv, u, `get /big.bin ${local}\n`, { extra: ['-vvv'] });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(sha256File(local), want);
    // ssh -vvv logs every packet type it receives (SSH_MSG_IGNORE = 2)
    const ignores = r.stderr.match(/receive packet: type 2\b/g)?.length ?? 0;
    assert.ok(ignores > 0, 'OpenSSH received no IGNORE');
  });
});

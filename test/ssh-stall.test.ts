// The server's answer to a peer's packet while a channel is out of window (our ssh2 patch,
// patches/ssh2+1.17.0.patch, Channel.js ackWhileBlocked): an SSH_MSG_IGNORE, at most one per chunk
// of input, so that the TCP ACK leaves at once. Without it a stock ssh2-sftp-client fastGet with
// 255 KiB chunks stalled for the kernel's delayed-ACK timer (40 ms) ~20 times per 256 MiB on
// loopback: its Nagle held the window adjust behind a READ that the idle server did not ACK (see
// bench/README.md). Observed through the clients' debug output (IGNOREs received, packets sent);
// the bytes are checked by sha256.
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

async function fastGet(
  srv: TestServer,
  u: TestUser,
  remote: string,
  local: string,
): Promise<Counts> {
  const counts = new Counts();
  // stock settings: ssh2's 2 MiB window and 32 KiB packets, Nagle on
  const c = await ssh2SftpKey(srv, u, { debug: counts.log });
  try {
    await c.fastGet(remote, local, { chunkSize: 255 * 1024, concurrency: 64 });
  } finally {
    await c.end();
  }
  return counts;
}

test('a peer packet while out of window is answered at once', async (t) => {
  const srv = await useServer(t);
  const u = srv.addUser('sid', { key: true, home: true });
  const want = randomFile(join(u.home, 'big.bin'), 64 * MiB + 4321);

  await t.test('stock ssh2-sftp-client fastGet, 255 KiB x 64: IGNOREs, bytes intact', async () => {
    const local = join(srv.dir, 'big-back.bin');
    const n = await fastGet(srv, u, '/big.bin', local);
    assert.equal(sha256File(local), want);
    // 16 MiB of READs in flight against a 2 MiB window: the server is out of window whenever the
    // client's next READs arrive, so it answers them
    assert.ok(n.ignores > 0, `no IGNORE received (${n.sent} packets sent)`);
    // at most one per chunk the server read, so never more than the packets the client sent
    assert.ok(n.ignores <= n.sent, `${n.ignores} IGNOREs for ${n.sent} packets`);
  });

  await t.test('no IGNORE while the window suffices', async () => {
    // 1 MiB: the replies fit in the client's 2 MiB window, the server is never out of window
    const want1 = randomFile(join(u.home, 'one.bin'), MiB);
    const local = join(srv.dir, 'one-back.bin');
    const n = await fastGet(srv, u, '/one.bin', local);
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

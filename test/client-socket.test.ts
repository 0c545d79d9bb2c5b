// The client's TCP socket on its own (client/socket.ts): read in large pieces of fresh memory.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { connectTcp } from '../client/socket.js';

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

// Our ssh2 patch's Server options that spare a peer the kernel's delayed ACK (patches/ssh2+1.17.0.patch),
// against a bare ssh2 Server so that they can go upstream with the patch. A peer with Nagle on
// (stock ssh2 clients) holds its next small packets until its last one is acknowledged, and a
// server with nothing to send delays that ACK (Linux: 40 ms).
// - `ackWithIgnore` (Channel.js ackWindowAdjust): a window adjust that arrives while no data waits
//   for window is answered with an SSH_MSG_IGNORE, whose segment carries the ACK.
// - `kexInitWait` (Protocol.js, kex.js handleKexInit): the server sends its KEXINIT in answer to
//   the client's, so that it carries the ACK of the client's (which its first key exchange packet
//   waits behind); after kexInitWait ms without one it sends its own anyway.
// Nothing changes unless the option is set.
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import ssh2 from 'ssh2';

const MiB = 1024 * 1024;
/** what the server writes: less than the 2 MiB window, more than the 1 MiB after which the client adjusts it */
const SIZE = 1.5 * MiB;

/** An exec channel on a bare ssh2 Server that writes SIZE bytes; the IGNOREs the client received. */
async function ignoresReceived(options: Record<string, unknown>): Promise<number> {
  const hostKey = ssh2.utils.generateKeyPairSync('ed25519').private;
  const server = new ssh2.Server(
    { hostKeys: [hostKey], ...options } as ssh2.ServerConfig,
    (conn) => {
      conn.on('error', () => undefined);
      conn.on('authentication', (ctx) => ctx.accept());
      conn.on('ready', () =>
        conn.on('session', (accept) =>
          accept().on('exec', (acc) => {
            const ch = acc();
            ch.write(Buffer.alloc(SIZE, 7));
            // end once the client has taken it all (its window adjust is on the wire before this)
            ch.once('data', () => {
              ch.exit(0);
              ch.end();
            });
          }),
        ),
      );
    },
  );
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const { port } = server.address() as AddressInfo;
  let ignores = 0;
  const client = new ssh2.Client();
  try {
    await new Promise<void>((res, rej) => {
      client.on('ready', res).on('error', rej);
      client.connect({
        host: '127.0.0.1',
        port,
        username: 'u',
        debug: (line: string) => {
          if (line.includes('Inbound: Received IGNORE')) ignores++;
        },
      });
    });
    const got = await new Promise<number>((res, rej) =>
      client.exec('x', (err, stream) => {
        if (err) return rej(err);
        let n = 0;
        stream.on('data', (d: Buffer) => {
          n += d.length;
          if (n === SIZE) stream.write('done');
        });
        stream.on('close', () => res(n));
      }),
    );
    assert.equal(got, SIZE);
  } finally {
    client.end();
    server.close();
  }
  return ignores;
}

test('ssh2 Server ackWithIgnore: a window adjust while no data waits gets an IGNORE', async () => {
  assert.ok((await ignoresReceived({ ackWithIgnore: true })) >= 1, 'no IGNORE with the option');
});

test('ssh2 Server without ackWithIgnore sends no IGNORE', async () => {
  assert.equal(await ignoresReceived({}), 0);
});

/** A bare ssh2 Server with OPTIONS on a loopback port (no authentication: never reached). */
async function bareServer(
  options: Record<string, unknown>,
): Promise<{ port: number; close(): void }> {
  const hostKey = ssh2.utils.generateKeyPairSync('ed25519').private;
  const server = new ssh2.Server({ hostKeys: [hostKey], ...options } as ssh2.ServerConfig, (c) => {
    c.on('error', () => undefined);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

/** A plaintext SSH packet (RFC 4253 6: length, padding length, payload, padding to 8 bytes). */
function packet(payload: Buffer): Buffer {
  let pad = 8 - ((5 + payload.length) % 8);
  if (pad < 4) pad += 8;
  const head = Buffer.alloc(5);
  head.writeUInt32BE(1 + payload.length + pad, 0);
  head[4] = pad;
  return Buffer.concat([head, payload, randomBytes(pad)]);
}

/** A client's KEXINIT with algorithms a default ssh2 Server with an ed25519 key accepts. */
function kexinit(): Buffer {
  const lists = [
    'curve25519-sha256',
    'ssh-ed25519',
    'aes128-gcm@openssh.com',
    'aes128-gcm@openssh.com',
    'hmac-sha2-256',
    'hmac-sha2-256',
    'none',
    'none',
    '',
    '',
  ].map((l) => {
    const b = Buffer.alloc(4 + l.length);
    b.writeUInt32BE(l.length, 0);
    b.write(l, 4, 'latin1');
    return b;
  });
  return packet(Buffer.concat([Buffer.from([20]), randomBytes(16), ...lists, Buffer.alloc(5)]));
}

/** A raw client: what the server sent after its ident line, and when each chunk of it arrived. */
class Raw {
  private readonly sock: Socket;
  private received = Buffer.alloc(0);
  readonly t0 = performance.now();
  /** ms after connecting when the first byte after the server's ident line arrived */
  afterIdentAt?: number;
  constructor(port: number) {
    this.sock = connect(port, '127.0.0.1');
    this.sock.setNoDelay(true);
    this.sock.on('error', () => undefined);
    this.sock.on('data', (d: Buffer) => {
      this.received = Buffer.concat([this.received, d]);
      const eol = this.received.indexOf('\r\n');
      if (this.afterIdentAt === undefined && eol >= 0 && this.received.length > eol + 2)
        this.afterIdentAt = performance.now() - this.t0;
    });
    this.sock.write('SSH-2.0-rawtest\r\n');
  }
  send(b: Buffer): void {
    this.sock.write(b);
  }
  /** the message type of the first packet after the ident line, once it has arrived */
  firstPacketType(): number | undefined {
    const eol = this.received.indexOf('\r\n');
    return eol >= 0 && this.received.length > eol + 2 + 5 ? this.received[eol + 2 + 5] : undefined;
  }
  close(): void {
    this.sock.destroy();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!cond() && performance.now() < end) await sleep(5);
}

test("ssh2 Server kexInitWait: its KEXINIT answers the client's", async () => {
  const srv = await bareServer({ kexInitWait: 5000 });
  const c = new Raw(srv.port);
  try {
    await sleep(300);
    assert.equal(c.afterIdentAt, undefined, "the server sent its KEXINIT before the client's");
    c.send(kexinit());
    await until(() => c.firstPacketType() !== undefined, 3000);
    assert.equal(c.firstPacketType(), 20, 'no KEXINIT in answer');
    assert.ok(c.afterIdentAt! < 3000, `KEXINIT after ${c.afterIdentAt} ms`);
  } finally {
    c.close();
    srv.close();
  }
});

test("ssh2 Server kexInitWait: without the client's KEXINIT, its own after the wait", async () => {
  const srv = await bareServer({ kexInitWait: 200 });
  const c = new Raw(srv.port);
  try {
    await until(() => c.firstPacketType() !== undefined, 3000);
    assert.equal(c.firstPacketType(), 20);
    assert.ok(c.afterIdentAt! >= 150, `KEXINIT after ${c.afterIdentAt} ms, before the wait`);
  } finally {
    c.close();
    srv.close();
  }
});

test('ssh2 Server without kexInitWait sends its KEXINIT at once', async () => {
  const srv = await bareServer({});
  const c = new Raw(srv.port);
  try {
    await until(() => c.firstPacketType() !== undefined, 3000);
    assert.equal(c.firstPacketType(), 20);
    assert.ok(c.afterIdentAt! < 150, `KEXINIT after ${c.afterIdentAt} ms`);
  } finally {
    c.close();
    srv.close();
  }
});

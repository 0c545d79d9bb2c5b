// Our ssh2 patch's Server option `ackWithIgnore` (patches/ssh2+1.17.0.patch, Channel.js
// ackWindowAdjust), against a bare ssh2 Server so that it can go upstream with the patch: a window
// adjust that arrives while no data waits for window is answered with an SSH_MSG_IGNORE, so that
// the TCP ACK leaves at once (a peer with Nagle on otherwise holds its next packets until the
// kernel's delayed ACK, 40 ms); and nothing changes unless the option is set.
import test from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
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

// Errors on sockets are no longer dropped: with JAILSFTPD_LOG=debug the server writes one line per
// socket error (a client that resets its connection), and without it none; the server goes on.
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcp } from 'node:net';
import { fixture } from './helpers/fixture.js';
import type { TestServer } from './helpers/server.js';
import { connect, openSftp } from './helpers/channels.js';
import { sleep } from './helpers/proc.js';

/** Opens a TCP connection, waits for the server's SSH version line, then resets it. */
function resetAfterBanner(srv: TestServer): Promise<void> {
  return new Promise((res, rej) => {
    const s = tcp(srv.port, srv.host);
    s.once('error', rej);
    s.once('data', () => {
      s.write('SSH-2.0-reset_test\r\n');
      setTimeout(() => {
        s.resetAndDestroy();
        res();
      }, 100);
    });
  });
}

/** Three resets, then a login: the server still serves. Stops it; returns what it logged. */
async function afterResets(srv: TestServer): Promise<string> {
  for (let i = 0; i < 3; i++) await resetAfterBanner(srv);
  await sleep(300);
  const c = await connect(srv, { name: 'ida', password: 'pw-ida', home: '' });
  const s = await openSftp(c);
  s.end();
  c.end();
  await srv.stop();
  return srv.output();
}

test('a reset connection gives one debug line per socket error, only at debug level', async (t) => {
  const fx = fixture(t);
  const quiet = await fx.server({ users: { ida: { password: 'pw-ida' } } });
  assert.doesNotMatch(await afterResets(quiet), /socket\.error/);
  // the same directory again (host keys and user kept), now at debug level
  const srv = await fx.server({ dir: quiet.dir, env: { JAILSFTPD_LOG: 'debug' } });
  const out = await afterResets(srv);
  const lines = out.split('\n').filter((l) => / socket\.error /.test(l));
  assert.equal(lines.length, 3, out);
  for (const l of lines) assert.match(l, /addr=127\.0\.0\.1 port=\d+ error=.*ECONNRESET/);
});

// Issue 6, floods soak: 2,000 failed logins from one address; another user from that address and
// the attacked user from elsewhere still log in.
import test from 'node:test';
import assert from 'node:assert/strict';
import { useServer } from './helpers/fixture.js';
import { tryLogin } from './helpers/attack.js';

test('2,000 failed logins from one address', { timeout: 1_200_000 }, async (t) => {
  const srv = await useServer(t);
  const alice = srv.addUser('alice');
  const N = 2000;
  let next = 0;
  let failed = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < N) {
      const i = next++;
      const r = await tryLogin(srv, i % 2 ? `nobody${i}` : alice.name, 'wrong', '127.0.0.77');
      assert.equal(r.ok, false);
      failed++;
    }
  };
  await Promise.all(Array.from({ length: 60 }, worker));
  const other = srv.addUser('bob');
  const bob = await tryLogin(srv, other.name, other.password, '127.0.0.77');
  const aliceLocked = await tryLogin(srv, alice.name, alice.password, '127.0.0.77');
  const aliceElsewhere = await tryLogin(srv, alice.name, alice.password, '127.0.0.1');
  t.diagnostic(
    `${failed} failed logins in ${((performance.now() - t0) / 1000).toFixed(0)} s; bob from the ` +
      `same address: ${bob.ok} (${bob.ms.toFixed(0)} ms); alice there: ${aliceLocked.ok}; elsewhere: ${aliceElsewhere.ok}`,
  );
  assert.equal(bob.ok, true);
  assert.equal(aliceLocked.ok, false);
  assert.equal(aliceElsewhere.ok, true);
});

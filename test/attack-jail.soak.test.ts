// Issue 6, jail soak: the swap races for a minute each (hundreds of thousands of swaps).
import test from 'node:test';
import assert from 'node:assert/strict';
import { needs } from './helpers/tools.js';
import { freshLogin } from './helpers/attack.js';
import { jailSetup, race } from './helpers/attack-jail.js';

test('swap races, long', { skip: needs('paramiko'), timeout: 600_000 }, async (t) => {
  const { srv, alice, can, cfg } = await jailSetup(t);
  for (const mode of ['disk', 'sftp'] as const) {
    const { worker, swap } = await race(srv, alice, can, cfg, 60, mode);
    t.diagnostic(`${mode} race: ${swap.swaps} swaps, ${worker.ops} ops (${worker.ok} succeeded)`);
    assert.deepEqual([...worker.failures, ...swap.failures], []);
    assert.ok(swap.swaps! > 5000);
    can.check();
    await freshLogin(srv, alice);
  }
});

// Issue 6, jail: hostile paths in every path-taking request, every operation through links an
// administrator placed in a home, and the directory/link swap race. Nothing outside a home is ever
// read, written, created or listed; outside-existing and outside-missing paths answer alike.
import test from 'node:test';
import assert from 'node:assert/strict';
import { needs } from './helpers/tools.js';
import { freshLogin, rss } from './helpers/attack.js';
import { usage } from './helpers/files.js';
import { lastJson, pyRun } from './helpers/run.js';
import { jailSetup, QUOTA, race, type PyReport } from './helpers/attack-jail.js';

test('jail attacks', { skip: needs('paramiko'), timeout: 300_000 }, async (t) => {
  const { srv, alice, can, cfg } = await jailSetup(t);
  const pid = srv.proc.pid!;

  const after = async (): Promise<void> => {
    can.check();
    await freshLogin(srv, alice);
    assert.ok(usage(alice.home) <= QUOTA);
    assert.ok(rss(pid) < 256 * 1024 * 1024, `server RSS ${rss(pid)}`);
  };

  /** One phase of attack_jail.py: it exits 0, reports no failures and made enough checks. */
  const phase = async (name: string, minChecks: number): Promise<PyReport> => {
    const r = await pyRun('attack_jail.py', [JSON.stringify({ ...cfg, phase: name })], {
      timeoutMs: 240_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const rep = lastJson<PyReport>(r.stdout);
    assert.deepEqual(rep.failures, []);
    assert.ok(rep.checks! > minChecks, `only ${rep.checks} checks`);
    return rep;
  };

  await t.test('hostile paths in every path-taking request and exec', async () => {
    const rep = await phase('matrix', 1000);
    assert.equal(rep.alive, true);
    await after();
  });

  await t.test('every operation through admin-placed links', async () => {
    await phase('links', 400);
    await after();
  });

  await t.test('swap race: the admin swaps a directory and an outside link on disk', async () => {
    const { worker, swap } = await race(srv, alice, can, cfg, 8, 'disk');
    assert.deepEqual(worker.failures, []);
    assert.ok(swap.swaps! > 1000, `only ${swap.swaps} swaps`);
    assert.ok(worker.ops! > 500, `only ${worker.ops} operations`);
    t.diagnostic(`disk race: ${swap.swaps} swaps, ${worker.ops} ops (${worker.ok} succeeded)`);
    await after();
  });

  await t.test('swap race: the user swaps with SFTP renames', async () => {
    const { worker, swap } = await race(srv, alice, can, cfg, 6, 'sftp');
    assert.deepEqual([...worker.failures, ...swap.failures], []);
    assert.ok(swap.swaps! > 100, `only ${swap.swaps} swaps`);
    t.diagnostic(`sftp race: ${swap.swaps} swaps, ${worker.ops} ops (${worker.ok} succeeded)`);
    await after();
  });
});

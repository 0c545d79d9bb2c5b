// Issue 6, jail: hostile paths in every path-taking request, every operation through links an
// administrator placed in a home, and the directory/link swap race. Nothing outside a home is ever
// read, written, created or listed; outside-existing and outside-missing paths answer alike.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type TestServer, type TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import { Canaries, freshLogin, lastJson, py, rss, sumSizes } from './attack-lib.js';

interface PyReport {
  checks?: number;
  ops?: number;
  ok?: number;
  swaps?: number;
  failures: string[];
  alive?: boolean;
}

const QUOTA = 10 * 1024 * 1024;

export async function jailSetup(): Promise<{
  srv: TestServer;
  alice: TestUser;
  can: Canaries;
  cfg: Record<string, unknown>;
}> {
  const srv = await startServer();
  const alice = srv.addUser('alice', { quota: QUOTA });
  mkdirSync(alice.home, { recursive: true });
  const can = new Canaries(srv);
  const cfg = {
    host: srv.host,
    port: srv.port,
    user: alice.name,
    password: alice.password,
    outside: can.outsideDir,
    home: alice.home,
    homes: srv.homesDir,
    tokens: can.tokens,
    token_sums: can.tokens.map((t) => createHash('sha256').update(`${t}\n`).digest('hex')),
    passwd_sum: createHash('sha256').update(readFileSync('/etc/passwd')).digest('hex'),
  };
  return { srv, alice, can, cfg };
}

/** Sets up `d` (a real directory) and `evil` (a link to the outside canary dir) for the race. */
export function raceSetup(home: string, outside: string): void {
  for (const n of ['d', 'evil', 'tmpd']) rmSync(join(home, n), { recursive: true, force: true });
  mkdirSync(join(home, 'd'));
  writeFileSync(join(home, 'd', 'secret.txt'), 'inside\n');
  writeFileSync(join(home, 'd', 'inner.txt'), 'inner\n');
  symlinkSync(outside, join(home, 'evil'));
}

export async function race(
  srv: TestServer,
  alice: TestUser,
  can: Canaries,
  cfg: Record<string, unknown>,
  seconds: number,
  swapper: 'disk' | 'sftp',
): Promise<{ worker: PyReport; swap: PyReport }> {
  raceSetup(alice.home, can.outsideDir);
  const wcfg = JSON.stringify({ ...cfg, outsideNames: ['sub', 'deep.txt'] });
  const [w, sw] = await Promise.all([
    py('attack_race.py', ['worker', wcfg, String(seconds)], { timeout: seconds * 1000 + 60000 }),
    py(
      'attack_race.py',
      [swapper, swapper === 'disk' ? alice.home : JSON.stringify(cfg), String(seconds)],
      { timeout: seconds * 1000 + 60000 },
    ),
  ]);
  assert.equal(w.code, 0, w.stderr);
  assert.equal(sw.code, 0, sw.stderr);
  return { worker: lastJson<PyReport>(w.stdout), swap: lastJson<PyReport>(sw.stdout) };
}

test('jail attacks', { skip: needs('paramiko'), timeout: 300_000 }, async (t) => {
  const { srv, alice, can, cfg } = await jailSetup();
  const pid = srv.proc.pid!;
  t.after(async () => {
    await srv.stop();
    can.cleanup();
    srv.cleanup();
  });

  const after = async (): Promise<void> => {
    can.check();
    await freshLogin(srv, alice);
    assert.ok(sumSizes(alice.home) <= QUOTA);
    assert.ok(rss(pid) < 256 * 1024 * 1024, `server RSS ${rss(pid)}`);
  };

  await t.test('hostile paths in every path-taking request and exec', async () => {
    const r = await py('attack_jail.py', [JSON.stringify({ ...cfg, phase: 'matrix' })], {
      timeout: 240_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const rep = lastJson<PyReport>(r.stdout);
    assert.deepEqual(rep.failures, []);
    assert.ok(rep.checks! > 1000, `only ${rep.checks} checks`);
    assert.equal(rep.alive, true);
    await after();
  });

  await t.test('every operation through admin-placed links', async () => {
    const r = await py('attack_jail.py', [JSON.stringify({ ...cfg, phase: 'links' })], {
      timeout: 240_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const rep = lastJson<PyReport>(r.stdout);
    assert.deepEqual(rep.failures, []);
    assert.ok(rep.checks! > 400, `only ${rep.checks} checks`);
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

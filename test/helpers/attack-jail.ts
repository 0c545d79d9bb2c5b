// Issue 6, jail: shared setup of the jail attacks and the swap race (used by the npm-test and soak files).
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { useServer } from './fixture.js';
import { startServer, type TestServer, type TestUser } from './server.js';
import { Canaries } from './attack.js';
import { sha256 } from './files.js';
import { lastJson, pyRun } from './run.js';

export interface PyReport {
  checks?: number;
  ops?: number;
  ok?: number;
  swaps?: number;
  failures: string[];
  alive?: boolean;
}

export const QUOTA = 10 * 1024 * 1024;

/** The server, alice (quota QUOTA) and the canaries for one test t, all removed after it (without t: by the caller). */
export async function jailSetup(t?: Pick<TestContext, 'after'>): Promise<{
  srv: TestServer;
  alice: TestUser;
  can: Canaries;
  cfg: Record<string, unknown>;
}> {
  const srv = t ? await useServer(t) : await startServer();
  const alice = srv.addUser('alice', { quota: QUOTA, home: true });
  const can = new Canaries(srv, t);
  const cfg = {
    host: srv.host,
    port: srv.port,
    user: alice.name,
    password: alice.password,
    outside: can.outsideDir,
    home: alice.home,
    homes: srv.homesDir,
    tokens: can.tokens,
    token_sums: can.tokens.map((t) => sha256(`${t}\n`)),
    passwd_sum: sha256(readFileSync('/etc/passwd')),
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
    pyRun('attack_race.py', ['worker', wcfg, seconds], { timeoutMs: seconds * 1000 + 60000 }),
    pyRun(
      'attack_race.py',
      [swapper, swapper === 'disk' ? alice.home : JSON.stringify(cfg), seconds],
      { timeoutMs: seconds * 1000 + 60000 },
    ),
  ]);
  assert.equal(w.status, 0, w.stderr);
  assert.equal(sw.status, 0, sw.stderr);
  return { worker: lastJson<PyReport>(w.stdout), swap: lastJson<PyReport>(sw.stdout) };
}

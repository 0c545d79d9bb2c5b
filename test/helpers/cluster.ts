// Three jailsftpd nodes on one PostgreSQL and one shared homes directory (cluster mode, no balancer:
// tests pick the node), and what the quota tests read: the user's row and the bytes on disk.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Fixture, FixtureServer } from './fixture.js';
import { startPostgres, type TestPostgres } from './postgres.js';
import { run } from './proc.js';
import { CLI } from './server.js';

export interface TestCluster {
  db: TestPostgres;
  homes: string;
  nodes: FixtureServer[];
  /** jailsftp_users' figures of a user */
  row(user: string): Promise<{ used: number; reserved: number }>;
  /** sum of the sizes of the regular files in the user's home */
  disk(user: string): number;
}

/** Starts PostgreSQL, `store init`, and `count` nodes with `config` (cluster lease etc.). */
export async function startCluster(
  fx: Fixture,
  config: Record<string, unknown> = {},
  count = 3,
): Promise<TestCluster> {
  const db = await startPostgres(fx);
  const env = { ...process.env };
  delete env.JAILSFTP_STORE;
  const init = await run(process.execPath, [CLI, 'store', 'init', '--store', db.url], {
    env,
    timeoutMs: 30000,
  });
  if (init.status !== 0) throw new Error(`store init: ${init.stderr}${init.stdout}`);
  const homes = fx.tempDir('jailsftp-cluster-homes-');
  const nodes: FixtureServer[] = [];
  for (let i = 0; i < count; i++)
    nodes.push(await fx.server({ config: { store: db.url, homes, ...config } }));
  return {
    db,
    homes,
    nodes,
    async row(user) {
      const out = await db.psql(
        `SELECT used || ' ' || reserved FROM jailsftp_users WHERE name = '${user}'`,
      );
      const [used, reserved] = out.trim().split(' ').map(Number);
      return { used: used!, reserved: reserved! };
    },
    disk(user) {
      return du(join(homes, user));
    },
  };
}

function du(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += du(p);
    else if (e.isFile()) total += statSync(p).size;
  }
  return total;
}

// `jailsftpd store init|import`: creates or migrates the PostgreSQL schema (idempotent, under the
// schema's advisory lock), and copies the records of a users directory into PostgreSQL, with each
// user's `used` from a scan of their home.
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig, type Config } from '../config.js';
import { formatSize } from '../../common/format.js';
import { scanUsage } from '../fs/quota.js';
import { FileRecords } from '../users/records.js';
import { openRecords, storeKind } from '../store/open.js';
import type { PgRecords } from '../store/pg-records.js';
import { maskUrl, pgConfig } from '../store/pg-config.js';
import { migrate } from '../store/schema.js';
import { COMMON, fail, storeOverride } from './args.js';
import { HELP } from './help.js';

function pgOnly(cfg: Config, sub: string): void {
  if (storeKind(cfg.store) !== 'postgres')
    fail(`store ${sub} needs a PostgreSQL store: --store postgres://USER:PASSWORD@HOST:PORT/DB`);
}

async function init(cfg: Config): Promise<void> {
  const c = new pg.Client(pgConfig(cfg.store, true));
  try {
    await c.connect();
  } catch (e) {
    throw new Error(`cannot reach the store ${maskUrl(cfg.store)}: ${(e as Error).message}`);
  }
  try {
    const [from, to] = await migrate(c);
    console.log(
      from === to
        ? `store ${maskUrl(cfg.store)}: schema version ${to}, up to date`
        : `store ${maskUrl(cfg.store)}: schema version ${from} -> ${to}`,
    );
  } finally {
    await c.end();
  }
}

async function importUsers(cfg: Config, replace: boolean): Promise<void> {
  const files = new FileRecords(cfg.users, cfg.homes);
  const db = (await openRecords(cfg)) as PgRecords;
  const counts = { imported: 0, replaced: 0, skipped: 0, failed: 0 };
  try {
    for (const name of await files.list()) {
      let r;
      try {
        r = await files.get(name);
      } catch (e) {
        console.log(`failed ${name}: ${(e as Error).message}`);
        counts.failed++;
        continue;
      }
      if (!r) continue;
      const used = await scanUsage(files.homeOf(r));
      const what = `quota ${formatSize(r.quota)}, used ${used === 0 ? '0 B' : formatSize(used)}`;
      if (await db.create(r, used)) {
        console.log(`imported ${name} (${what})`);
        counts.imported++;
      } else if (replace) {
        await db.replace(r, used);
        console.log(`replaced ${name} (${what})`);
        counts.replaced++;
      } else {
        console.log(`skipped ${name}: exists in the store (--replace overwrites it)`);
        counts.skipped++;
      }
    }
  } finally {
    await db.close();
  }
  console.log(
    `from ${files.location} into ${db.location}: ${counts.imported} imported, ` +
      `${counts.replaced} replaced, ${counts.skipped} skipped, ${counts.failed} failed`,
  );
  if (counts.failed > 0) process.exitCode = 1;
}

export async function storeCommand(args: string[]): Promise<void> {
  const sub = args[0];
  const helpKey = `store ${sub}`;
  const { values } = parseArgs({
    args: args.slice(1),
    options: { ...COMMON, replace: { type: 'boolean' } },
  });
  if (values.help || !sub || !HELP[helpKey]) {
    console.log(HELP[helpKey] ?? HELP.main);
    if (!values.help) process.exitCode = 2;
    return;
  }
  const cfg = loadConfig({ ...values, store: storeOverride(values.store) });
  pgOnly(cfg, sub);
  if (sub === 'init') return init(cfg);
  return importUsers(cfg, values.replace === true);
}

// `npm run bench -- --cluster`: the cluster against one node. A real PostgreSQL (initdb/pg_ctl in a
// temporary directory, test/helpers/postgres.ts), three jailsftpd nodes on that store sharing one
// homes directory and one host key directory, and a real HAProxy in front (mode tcp,
// send-proxy-v2, round robin). The workloads see it as one server; the reference column is a single
// node on the file store, so the ratio is what the cluster costs (or gains, with several uploads).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchServer, ROOT, serverCli, type Launched } from '../test/helpers/server.js';
import { tempDir, terminate } from '../test/helpers/proc.js';
import { startHaproxy } from '../test/helpers/haproxy.js';
import {
  childrenOf,
  postgresBin,
  startPostgres,
  type TestPostgres,
} from '../test/helpers/postgres.js';
import { BENCH_LIMITS, type OursOptions } from './oursd.js';
import type { Target } from './target.js';
import { cleanupDir, CpuAccount, log, onCleanup, which } from './util.js';

export interface ClusterTarget extends Target {
  /** transactions PostgreSQL has committed or rolled back in the jailsftp database so far */
  transactions(): Promise<number>;
  /** CPU seconds HAProxy and PostgreSQL have used so far (undefined without cgroups) */
  infraSeconds(): { haproxy?: number; postgres?: number };
  nodes: Launched[];
}

/** Why the cluster cannot run here, or undefined. */
export function clusterUnavailable(): string | undefined {
  if (!postgresBin()) return 'PostgreSQL missing (apt-get install postgresql)';
  if (!which('haproxy')) return 'HAProxy missing (apt-get install haproxy)';
  return undefined;
}

/** Starts PostgreSQL, `n` nodes on it and HAProxy; adds the bench user through node 1's CLI. */
export async function startCluster(o: OursOptions & { nodes: number }): Promise<ClusterTarget> {
  const dir = tempDir('jailsftp-bench-cluster-');
  cleanupDir(dir);
  // asynchronous clean-up for stop(); the synchronous registry covers an interrupted bench
  const later: (() => unknown)[] = [];
  const scope = {
    defer: (fn: () => unknown) => later.push(fn),
    tempDir: (prefix = 'jailsftp-bench-pg-') => {
      const d = tempDir(prefix);
      cleanupDir(d);
      return d;
    },
  };
  const db: TestPostgres = await startPostgres(scope);
  onCleanup(() => {
    const bin = postgresBin();
    if (bin)
      spawnSync(
        'runuser',
        [
          '-u',
          'postgres',
          '--',
          join(bin, 'pg_ctl'),
          '-D',
          join(db.dir, 'data'),
          '-m',
          'immediate',
          'stop',
        ],
        {
          stdio: 'ignore',
        },
      );
  });
  // PostgreSQL's CPU: the postmaster and the processes it has forked so far (its background
  // workers) go into a group now, before any node connects, so every backend is forked into it
  const pgCpu = CpuAccount.create(`jailsftp-bench-${process.pid}-postgres`);
  if (pgCpu) {
    const postmaster = Number(
      readFileSync(join(db.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0],
    );
    pgCpu.add(postmaster);
    for (const pid of childrenOf(postmaster)) pgCpu.add(pid);
  }
  const homes = join(dir, 'home');
  mkdirSync(homes, { recursive: true });
  const cpu = CpuAccount.create(`jailsftp-bench-${process.pid}-cluster`);
  // the schema first: a node refuses to start on a database without it (it never migrates itself)
  const init = spawnSync(
    process.execPath,
    [join(ROOT, 'dist/server/cli.js'), 'store', 'init', '--store', db.url],
    { encoding: 'utf8' },
  );
  if (init.status !== 0) throw new Error(`store init failed: ${init.stderr}${init.stdout}`);
  const nodes: Launched[] = [];
  for (let i = 1; i <= o.nodes; i++) {
    const nodeDir = join(dir, `node${i}`);
    const n = await launchServer({
      dir: nodeDir,
      config: {
        store: db.url,
        homes,
        ...(o.hostKeys ? { hostKeys: o.hostKeys } : { hostKeys: join(dir, 'keys') }),
        proxyProtocol: ['127.0.0.1/32'],
        limits: BENCH_LIMITS,
        shutdownGrace: 2,
      },
      cwd: nodeDir,
      maxOutput: 20000,
      startTimeoutMs: 30000,
      onSpawn: (proc) => cpu?.add(proc.pid!),
    });
    onCleanup(() => terminate([n.proc.pid!], 5000));
    nodes.push(n);
  }
  const pub = readFileSync(`${o.keyFile}.pub`, 'utf8').trim();
  const add = serverCli(
    nodes[0]!.configFile,
    ['user', 'add', o.user, '--password-stdin', '--key', pub],
    `${o.password}\n`,
  );
  if (add.status !== 0) throw new Error(`jailsftpd user add failed: ${add.stderr}${add.stdout}`);
  // HAProxy (not in the CPU account: the column is the nodes' CPU) is ready when its health checks
  // have seen every node's banner
  const hap = await startHaproxy(scope, { backends: nodes.map((n) => n.port) });
  const hapCpu = CpuAccount.create(`jailsftp-bench-${process.pid}-haproxy`);
  hapCpu?.add(hap.pid);
  await hap.ready();
  const port = hap.port;
  const startDir = join(homes, o.user);
  mkdirSync(startDir, { recursive: true });
  log(
    `cluster: ${o.nodes} nodes (${nodes.map((n) => n.port).join(', ')}) behind HAProxy :${port}, PostgreSQL :${db.port}`,
  );
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  let stopped = false;
  return {
    name: 'ours',
    host: '127.0.0.1',
    port,
    user: o.user,
    keyFile: o.keyFile,
    password: o.password,
    pid: nodes[0]!.proc.pid!,
    ...(cpu ? { cpu } : {}),
    startDir,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    software: `jailsftpd ${version.version} cluster: ${o.nodes} nodes, PostgreSQL, HAProxy`,
    nodes,
    async transactions() {
      const out = await db.psql(
        `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'jailsftp'`,
      );
      return Number(out.trim());
    },
    infraSeconds() {
      return { haproxy: hapCpu?.seconds(), postgres: pgCpu?.seconds() };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const n of nodes) n.proc.kill('SIGTERM');
      await Promise.all(nodes.map((n) => n.exit));
      for (const fn of later.reverse()) await fn();
    },
  };
}

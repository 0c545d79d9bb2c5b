// A real PostgreSQL for tests (Debian's `postgresql`): an unprivileged cluster in a temporary
// directory (initdb and pg_ctl as the `postgres` user when the tests run as root), listening on a
// loopback port, trust authentication, fsync off. Stopped and removed at the end of the scope.
import { chownSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { freePort, run, type Run } from './proc.js';

/** Debian's versioned binary directory (/usr/lib/postgresql/15/bin), or undefined. */
export function postgresBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(base, versions[0], 'bin') : undefined;
}

export interface TestPostgres {
  /** postgres://postgres@127.0.0.1:PORT/jailsftp */
  url: string;
  port: number;
  dir: string;
  /** pg_ctl stop -m fast (connections are cut) */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** runs SQL through psql; rejects on an error */
  psql(sql: string): Promise<string>;
  /**
   * SIGSTOP to the postmaster and every process it forked: connections stay open and new ones are
   * accepted by the kernel, but nothing answers (a hung database host, not a refused connection)
   */
  freeze(): void;
  /** SIGCONT to what freeze() stopped */
  thaw(): void;
}

async function ok(r: Promise<Run>, what: string): Promise<Run> {
  const res = await r;
  if (res.status !== 0)
    throw new Error(`${what} failed (${res.status}): ${res.stderr}${res.stdout}`);
  return res;
}

/** What registers the clean-up: a test fixture (`fixture(t)`), or the bench's own. */
export interface CleanupScope {
  defer(fn: () => unknown): void;
  tempDir(prefix?: string): string;
}

/** Starts a PostgreSQL with an empty database `jailsftp`; the scope stops it and removes it. */
export async function startPostgres(fx: CleanupScope): Promise<TestPostgres> {
  const bin = postgresBin();
  if (!bin) throw new Error('postgresql missing: apt-get install postgresql');
  const dir = fx.tempDir('jailsftp-pg-');
  const data = join(dir, 'data');
  const port = await freePort();
  // initdb refuses to run as root: as root, the cluster belongs to the postgres user
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    const pw = await ok(run('id', ['-u', 'postgres']), 'id -u postgres');
    const gid = await ok(run('id', ['-g', 'postgres']), 'id -g postgres');
    chownSync(dir, Number(pw.stdout.trim()), Number(gid.stdout.trim()));
  }
  const as = (cmd: string, args: string[]): Promise<Run> =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args])
      : run(join(bin, cmd), args);
  await ok(
    as('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']),
    'initdb',
  );
  const opts = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off -c max_connections=200`;
  const start = async (): Promise<void> => {
    await ok(
      as('pg_ctl', ['-D', data, '-w', '-t', '60', '-l', join(dir, 'log'), '-o', opts, 'start']),
      'pg_ctl start',
    );
  };
  let frozen: number[] = [];
  const thaw = (): void => {
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        /* gone */
      }
    }
    frozen = [];
  };
  const freeze = (): void => {
    const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    // the postmaster first: it forks no new backend once stopped
    for (const pid of [postmaster, ...childrenOf(postmaster)]) {
      try {
        process.kill(pid, 'SIGSTOP');
        frozen.push(pid);
      } catch {
        /* exited meanwhile */
      }
    }
  };
  const stop = async (): Promise<void> => {
    thaw();
    await as('pg_ctl', ['-D', data, '-w', '-t', '60', '-m', 'fast', 'stop']);
  };
  const psql = async (sql: string, db = 'jailsftp'): Promise<string> =>
    (
      await ok(
        as('psql', [
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
          '-U',
          'postgres',
          '-d',
          db,
          '-XAtq',
          '-v',
          'ON_ERROR_STOP=1',
          '-c',
          sql,
        ]),
        `psql ${sql}`,
      )
    ).stdout;
  await start();
  fx.defer(stop);
  await psql('CREATE DATABASE jailsftp', 'postgres');
  return {
    url: `postgres://postgres@127.0.0.1:${port}/jailsftp`,
    port,
    dir,
    stop,
    start,
    psql: (s) => psql(s),
    freeze,
    thaw,
  };
}

/** Processes whose parent is `pid` (from /proc). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // the parent is the 2nd field after the command in parentheses
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

// Starts our server (the built dist/server/cli.js) on a loopback port with production settings
// (default argon2 parameters) and a bench user, in a temporary directory removed at clean-up. The
// start itself is the tests' (launchServer in test/helpers/server.ts).
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, launchServer, ROOT, serverCli } from '../test/helpers/server.js';
import { tempDir, terminate } from '../test/helpers/proc.js';
import type { Target } from './target.js';
import { cleanupDir, CpuAccount, log, onCleanup } from './util.js';

export { ROOT };
export const SERVER_CLI = CLI;

export interface OursOptions {
  user: string;
  password: string;
  keyFile: string;
  /** extra node options, e.g. ['--cpu-prof', '--cpu-prof-dir=DIR'] */
  nodeArgs?: string[];
  /** host key directory to reuse (keys are made on first start, which takes a while for RSA) */
  hostKeys?: string;
  /** with the audit log (a file) and the admin listener (metrics) on */
  ops?: boolean;
}

/**
 * Limits high enough that no workload meets them (hundreds of sessions, parallel logins; the curves:
 * 1,000 idle sessions of one user, 256 handshakes at once).
 */
export const BENCH_LIMITS = {
  maxConnections: 4096,
  maxConnectionsPerAddress: 2048,
  maxUnauthenticated: 512,
  maxSessionsPerUser: 2048,
};

export type OursTarget = Target & { output(): string; hostKeys: string };

export async function startOurs(o: OursOptions): Promise<OursTarget> {
  const dir = tempDir('jailsftp-bench-ours-');
  cleanupDir(dir);
  const cpu = CpuAccount.create(`jailsftp-bench-${process.pid}-ours`);
  const srv = await launchServer({
    dir,
    config: {
      ...(o.hostKeys ? { hostKeys: o.hostKeys } : {}),
      // production argon2 parameters: the defaults (no "argon2" key)
      limits: BENCH_LIMITS,
      shutdownGrace: 2,
      ...(o.ops ? { auditLog: join(dir, 'audit.log'), adminListen: '127.0.0.1:0' } : {}),
    },
    nodeArgs: o.nodeArgs,
    cwd: dir,
    maxOutput: 20000,
    startTimeoutMs: 30000,
    onSpawn: (proc) => {
      if (cpu && !cpu.add(proc.pid!)) log('ours: could not use a cgroup for CPU accounting');
    },
  });
  const { proc, port } = srv;
  const pid = proc.pid!;
  let stopped = false;
  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    terminate([pid], 5000);
  };
  onCleanup(stopSync);
  const pub = readFileSync(`${o.keyFile}.pub`, 'utf8').trim();
  const add = serverCli(
    srv.configFile,
    ['user', 'add', o.user, '--password-stdin', '--key', pub],
    `${o.password}\n`,
  );
  if (add.status !== 0) throw new Error(`jailsftpd user add failed: ${add.stderr}${add.stdout}`);
  const startDir = join(srv.homesDir, o.user);
  mkdirSync(startDir, { recursive: true });
  log(`ours: jailsftpd pid ${pid} on 127.0.0.1:${port} (${dir})`);
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  return {
    name: 'ours',
    hostKeys: o.hostKeys ?? srv.keysDir,
    host: '127.0.0.1',
    port,
    user: o.user,
    keyFile: o.keyFile,
    password: o.password,
    pid,
    ...(cpu ? { cpu } : {}),
    startDir,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    software: `jailsftpd ${version.version} (node ${process.version})`,
    async stop() {
      if (stopped) return;
      stopped = true;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
      await srv.exit;
      clearTimeout(t);
    },
    output: srv.output,
  };
}

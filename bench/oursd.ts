// Starts our server (the built dist/server/cli.js) on a loopback port with production settings
// (default argon2 parameters) and a bench user, in a temporary directory removed at clean-up.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Target } from './target.js';
import { cleanupDir, CpuAccount, log, onCleanup, run, spawnTracked, terminate } from './util.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const SERVER_CLI = join(ROOT, 'dist/server/cli.js');

export interface OursOptions {
  user: string;
  password: string;
  keyFile: string;
  /** extra node options, e.g. ['--cpu-prof', '--cpu-prof-dir=DIR'] */
  nodeArgs?: string[];
  /** host key directory to reuse (keys are made on first start, which takes a while for RSA) */
  hostKeys?: string;
}

export type OursTarget = Target & { output(): string; hostKeys: string };

export async function startOurs(o: OursOptions): Promise<OursTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'jailsftp-bench-ours-'));
  cleanupDir(dir);
  const cfgFile = join(dir, 'config.json');
  const homes = join(dir, 'home');
  for (const d of ['users', 'home', 'keys']) mkdirSync(join(dir, d));
  writeFileSync(
    cfgFile,
    JSON.stringify(
      {
        listen: '127.0.0.1:0',
        users: join(dir, 'users'),
        homes,
        hostKeys: o.hostKeys ?? join(dir, 'keys'),
        // production argon2 parameters: the defaults (no "argon2" key)
        limits: {
          maxConnections: 2048,
          maxConnectionsPerAddress: 1024,
          maxUnauthenticated: 256,
          maxSessionsPerUser: 1024,
        },
        shutdownGrace: 2,
      },
      null,
      2,
    ),
  );
  const pub = readFileSync(`${o.keyFile}.pub`, 'utf8').trim();
  const add = await run(
    process.execPath,
    [SERVER_CLI, 'user', 'add', o.user, '--password-stdin', '--key', pub, '--config', cfgFile],
    { input: `${o.password}\n` },
  );
  if (add.code !== 0) throw new Error(`jailsftpd user add failed: ${add.stderr}${add.stdout}`);
  const startDir = join(homes, o.user);
  mkdirSync(startDir, { recursive: true });

  const cpu = CpuAccount.create(`jailsftp-bench-${process.pid}-ours`);
  const proc = spawnTracked(
    process.execPath,
    [...(o.nodeArgs ?? []), SERVER_CLI, 'serve', '--config', cfgFile],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir },
  );
  let out = '';
  const keep = (d: Buffer): void => {
    out += d.toString();
    if (out.length > 20000) out = out.slice(-10000);
  };
  if (cpu && !cpu.add(proc.pid!)) log('ours: could not use a cgroup for CPU accounting');
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const port = await new Promise<number>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`our server did not start:\n${out}`)), 30000);
    const check = (): void => {
      const m = /listening on [^\s]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        proc.stdout!.off('data', check);
        res(Number(m[1]));
      }
    };
    proc.stdout!.on('data', check);
    proc.once('exit', (code) => {
      clearTimeout(t);
      rej(new Error(`our server exited with ${code}:\n${out}`));
    });
  });
  const pid = proc.pid!;
  let stopped = false;
  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    terminate([pid], 5000);
  };
  onCleanup(stopSync);
  log(`ours: jailsftpd pid ${pid} on 127.0.0.1:${port} (${dir})`);
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  return {
    name: 'ours',
    hostKeys: o.hostKeys ?? join(dir, 'keys'),
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
      await exited;
      clearTimeout(t);
    },
    output: () => out,
  } as OursTarget;
}

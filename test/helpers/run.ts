// Helpers shared by the quota, resume, integrity and extension tests: real clients, disk figures.
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT, type TestServer, type TestUser } from './server.js';
import { PY } from './tools.js';

export const PYDIR = join(ROOT, 'test/py');

export interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (async, so the server in this process keeps being observed). */
export function run(
  cmd: string,
  args: string[],
  opts: SpawnOptions & { input?: string; timeoutMs?: number } = {},
): Promise<Run> {
  return new Promise((res, rej) => {
    const p = spawn(cmd, args, { ...opts, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 60000);
    p.on('error', rej);
    p.on('close', (status, signal) => {
      clearTimeout(t);
      res({ status, signal, stdout, stderr });
    });
    p.stdin!.end(opts.input ?? '');
  });
}

/** A paramiko script under test/py; its JSON lines parsed. */
export async function py(
  script: string,
  args: (string | number)[],
  timeoutMs = 60000,
): Promise<{ r: Run; lines: Record<string, unknown>[] }> {
  const r = await run(PY, [join(PYDIR, script), ...args.map(String)], {
    cwd: PYDIR,
    timeoutMs,
  });
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { r, lines };
}

/** Arguments for OpenSSH sftp with the user's key, no host key prompts. */
export function sshOpts(srv: TestServer, u: TestUser): string[] {
  if (!u.keyFile) throw new Error('user needs key:true');
  return [
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'IdentitiesOnly=yes',
    '-i',
    u.keyFile,
    '-P',
    String(srv.port),
  ];
}

/** OpenSSH sftp in batch mode with commands from stdin ("-b -"). */
export function sftpBatch(
  srv: TestServer,
  u: TestUser,
  commands: string,
  opts: { cwd?: string; extra?: string[]; timeoutMs?: number } = {},
): Promise<Run> {
  return run(
    'sftp',
    [...sshOpts(srv, u), ...(opts.extra ?? []), '-b', '-', `${u.name}@${srv.host}`],
    { cwd: opts.cwd, input: commands, timeoutMs: opts.timeoutMs },
  );
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

export function sha256File(path: string): string {
  return sha256(readFileSync(path));
}

/** Writes size random bytes to path and returns their sha256. */
export function randomFile(path: string, size: number): string {
  const b = randomBytes(size);
  writeFileSync(path, b);
  return sha256(b);
}

/** Sum of the apparent sizes of the regular files under dir (what the quota counts). */
export function usage(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    try {
      if (e.isDirectory()) total += usage(p);
      else if (e.isFile()) total += lstatSync(p).size;
    } catch {
      /* vanished */
    }
  }
  return total;
}

/**
 * Samples usage(dir) every few milliseconds until stop() and returns the largest value seen:
 * the overshoot measurement for concurrent writers.
 */
export function watchUsage(dir: string, everyMs = 2): { stop(): number; samples(): number } {
  let max = 0;
  let n = 0;
  let on = true;
  const tick = (): void => {
    if (!on) return;
    try {
      max = Math.max(max, usage(dir));
      n++;
    } catch {
      /* home not there yet */
    }
    setTimeout(tick, everyMs);
  };
  tick();
  return {
    stop() {
      on = false;
      max = Math.max(max, usage(dir));
      return max;
    },
    samples: () => n,
  };
}

/** The host key fingerprint as psftp/curl want it (SHA256:...). */
export function hostKeySha256(srv: TestServer): string {
  const r = srv.cli(['hostkey']);
  const m = /SHA256:[A-Za-z0-9+/=]+/.exec(r.stdout);
  if (!m) throw new Error(`no host key fingerprint in: ${r.stdout}${r.stderr}`);
  return m[0];
}

export function hostKeysAll(srv: TestServer): string[] {
  const r = srv.cli(['hostkey']);
  return [...r.stdout.matchAll(/SHA256:[A-Za-z0-9+/=]+/g)].map((m) => m[0]);
}

export const abs = (p: string): string => resolve(p);

/** Synchronous probe of a command's output (for help texts). */
export function output(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return (r.stdout ?? '') + (r.stderr ?? '');
}

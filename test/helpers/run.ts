// Running commands from tests: stdout, stderr and exit status of a child process, and the Python
// scripts under test/py (run with Debian's python3, which has paramiko).
import { spawn, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './server.js';
import { PY } from './tools.js';

export const PYDIR = join(ROOT, 'test/py');

export interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export type RunOptions = SpawnOptions & { input?: string; timeoutMs?: number };

/**
 * Runs a command to its end (async, so the server in this process keeps being observed). stdin gets
 * `input` (or nothing); after timeoutMs (60 s) the command is killed with SIGKILL.
 */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<Run> {
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

/** A Python script under test/py, run in that directory (so that it imports its libraries). */
export function pyRun(
  script: string,
  args: (string | number)[],
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Run> {
  return run(PY, [join(PYDIR, script), ...args.map(String)], {
    cwd: PYDIR,
    env: { ...process.env, ...opts.env },
    timeoutMs: opts.timeoutMs,
  });
}

/** A paramiko script under test/py; its JSON lines parsed. */
export async function py(
  script: string,
  args: (string | number)[],
  timeoutMs = 60000,
): Promise<{ r: Run; lines: Record<string, unknown>[] }> {
  const r = await pyRun(script, args, { timeoutMs });
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { r, lines };
}

/** A paramiko script logged in as u on srv: its arguments are PORT USER PASSWORD ARGS... */
export function pyAs(
  script: string,
  srv: { port: number },
  u: { name: string; password: string },
  args: (string | number)[],
  timeoutMs?: number,
): Promise<{ r: Run; lines: Record<string, unknown>[] }> {
  return py(script, [srv.port, u.name, u.password, ...args], timeoutMs);
}

/** The last JSON line a script printed. */
export function lastJson<V>(stdout: string): V {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as V;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls cond every few milliseconds until it holds; throws after timeoutMs. */
export async function waitFor(
  cond: () => boolean,
  timeoutMs: number,
  what: string,
  everyMs = 5,
): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

// Process tools shared by the tests and the bench: spawning (with a hook that sees every child),
// running a command to its end, waiting, stopping process trees, free ports and temporary directories.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const spawnHooks: ((c: ChildProcess) => void)[] = [];

/** Calls fn with every child spawned from here on (the bench kills the ones left at its end). */
export function onSpawn(fn: (c: ChildProcess) => void): void {
  spawnHooks.push(fn);
}

/** spawn(), seen by the onSpawn hooks. */
export function spawnChild(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const c = spawn(cmd, args, opts);
  for (const h of spawnHooks) h(c);
  return c;
}

export interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export type RunOptions = SpawnOptions & {
  input?: string;
  /** SIGKILL after this long (default 60 s; 0: never) */
  timeoutMs?: number;
  /** keep at most this many characters of stdout and of stderr */
  maxOutput?: number;
};

/**
 * Runs a command to its end (async, so the server in this process keeps being observed). stdin gets
 * `input` (or nothing); after timeoutMs the command is killed with SIGKILL. Rejects when the command
 * cannot be started.
 */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<Run> {
  const { input, timeoutMs = 60000, maxOutput = Infinity, ...spawnOpts } = opts;
  return new Promise((res, rej) => {
    const p = spawnChild(cmd, args, { ...spawnOpts, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => {
      if (stdout.length < maxOutput) stdout += d.toString();
    });
    p.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < maxOutput) stderr += d.toString();
    });
    const t =
      timeoutMs > 0
        ? setTimeout(() => {
            stderr += `\n[killed after ${timeoutMs} ms]`;
            p.kill('SIGKILL');
          }, timeoutMs)
        : undefined;
    p.on('error', (e) => {
      clearTimeout(t);
      rej(e);
    });
    p.on('close', (status, signal) => {
      clearTimeout(t);
      res({ status, signal, stdout, stderr });
    });
    p.stdin!.on('error', () => undefined);
    p.stdin!.end(input ?? '');
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
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

/** Resolves with the exit code once the child has exited (at once if it has). */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.on('exit', (code) => r(code)));
}

/** Whether the process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (!existsSync(`/proc/${pid}`)) return false;
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return true;
  }
}

/** Sends SIGTERM to the given pids, waits up to `ms`, then SIGKILLs what is left (synchronous). */
export function terminate(pids: number[], ms = 3000): void {
  const signal = (p: number, s: NodeJS.Signals): void => {
    try {
      process.kill(p, s);
    } catch {
      /* gone */
    }
  };
  for (const p of pids) signal(p, 'SIGTERM');
  const end = Date.now() + ms;
  while (pids.some(alive) && Date.now() < end) sleepSync(50);
  for (const p of pids.filter(alive)) signal(p, 'SIGKILL');
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

/** A new directory under the system's temporary directory (the caller removes it). */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

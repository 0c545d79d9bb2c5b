// Running commands from tests: stdout, stderr and exit status of a child process, and the Python
// scripts under test/py (run with Debian's python3, which has paramiko).
import { join } from 'node:path';
import { run, type Run } from './proc.js';
import { ROOT } from './server.js';
import { PY } from './tools.js';

// the process tools live in proc.ts (shared with the bench); re-exported for the test files
export { run, sleep, waitFor, type Run, type RunOptions } from './proc.js';

export const PYDIR = join(ROOT, 'test/py');

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

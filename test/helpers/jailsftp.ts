// The built ftp> client (jailsftp) for the client tests: run it with a scratch HOME, see it exit.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Fixture } from './fixture.js';
import { run, spawnChild, tempDir } from './proc.js';
import { ROOT } from './server.js';

export const CLIENT = join(ROOT, 'dist/client/cli.js');

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  home: string;
  cwd?: string;
  input?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * A scratch HOME, so that known_hosts and history never touch the real ones; with a fixture, removed
 * at its end.
 */
export function scratchHome(fx?: Fixture): string {
  return fx ? fx.tempDir('jailsftp-client-home-') : tempDir('jailsftp-client-home-');
}

export function clientEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, ...extra };
  delete env.SSH_AUTH_SOCK;
  delete env.JAILSFTP_PASSWORD;
  delete env.JAILSFTP_KNOWN_HOSTS;
  delete env.JAILSFTP_HISTORY;
  Object.assign(env, extra);
  return env;
}

export function startClient(args: string[], o: RunOptions): ChildProcess {
  return spawnChild(process.execPath, [CLIENT, ...args], {
    cwd: o.cwd ?? o.home,
    env: clientEnv(o.home, o.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs the client to its end (proc.ts's run()); rejects when it is still running after timeoutMs. */
export async function runClient(args: string[], o: RunOptions): Promise<RunResult> {
  const timeoutMs = o.timeoutMs ?? 60000;
  const r = await run(process.execPath, [CLIENT, ...args], {
    cwd: o.cwd ?? o.home,
    env: clientEnv(o.home, o.env),
    input: o.input,
    timeoutMs,
  });
  const { status, stdout, stderr } = r;
  if (r.signal === 'SIGKILL' && stderr.endsWith(`\n[killed after ${timeoutMs} ms]`))
    throw new Error(`client timed out\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  return { status, stdout, stderr };
}

export { exited } from './proc.js';

// The built ftp> client (jailsftp) for the client tests: run it with a scratch HOME, see it exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Fixture } from './fixture.js';
import { tempDir } from './proc.js';
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
  return spawn(process.execPath, [CLIENT, ...args], {
    cwd: o.cwd ?? o.home,
    env: clientEnv(o.home, o.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export function runClient(args: string[], o: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = startClient(args, o);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`client timed out\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, o.timeoutMs ?? 60000);
    child.on('exit', (status) => {
      clearTimeout(t);
      resolve({ status, stdout, stderr });
    });
    child.stdin!.end(o.input ?? '');
  });
}

export { exited } from './proc.js';

// The lying SSH/SFTP server (test/py/hostile_server.py) for the client tests: start it in a mode, run
// our client against it in batch mode (or start it and drive it); the fixture stops both.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Fixture } from './fixture.js';
import { runClient, startClient, type RunResult } from './jailsftp.js';
import { exited, spawnChild, waitFor } from './proc.js';
import { PYDIR } from './run.js';
import { PY } from './tools.js';

/** What the server serves for every file (CONTENT in hostile_server.py). */
export const CONTENT = Buffer.from('the right bytes\n'.repeat(1000));
export const PASSWORD = 'pw';

export interface Hostile {
  port: number;
  proc: ChildProcess;
}

/** A child process killed at the end of fx, and what it has printed so far. */
export interface Watched {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
}

function watch(fx: Fixture, proc: ChildProcess): Watched {
  fx.defer(() => {
    proc.kill('SIGKILL');
    return exited(proc);
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { proc, stdout: () => out, stderr: () => err };
}

/**
 * Starts hostile_server.py MODE with the RSA host key in keyFile (created when missing); it is
 * killed at the end of fx.
 */
export async function startHostile(fx: Fixture, mode: string, keyFile: string): Promise<Hostile> {
  const w = watch(
    fx,
    spawnChild(PY, [join(PYDIR, 'hostile_server.py'), mode, '--key', keyFile], {
      cwd: PYDIR,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const { proc } = w;
  const gone = (): boolean => proc.exitCode !== null || proc.signalCode !== null;
  // the server prints its port on the first line
  const port = (): RegExpExecArray | null => /^(\d+)\n/.exec(w.stdout());
  await waitFor(() => !!port() || gone(), 30000, 'the port').catch(() => undefined);
  const m = port();
  if (!m) throw new Error(`hostile server did not start (exit ${proc.exitCode}):\n${w.stderr()}`);
  return { port: Number(m[1]), proc };
}

function clientArgs(srv: Hostile, how: string[]): string[] {
  return ['--yes', '-P', String(srv.port), ...how, 'u@127.0.0.1'];
}

const clientEnv = { JAILSFTP_PASSWORD: PASSWORD };

/** Our client running `-c COMMANDS` against a hostile server, for the test to drive; killed at the end of fx. */
export function startHostileClient(
  fx: Fixture,
  srv: Hostile,
  commands: string[],
  o: { home: string; cwd: string },
): Watched {
  const args = clientArgs(srv, ['-c', commands.join('; ')]);
  return watch(fx, startClient(args, { ...o, env: clientEnv }));
}

/** Our client in batch mode (-c, --yes) against a hostile server, logging in with the password. */
export function hostileClient(
  srv: Hostile,
  commands: string[],
  o: { home: string; cwd: string; timeoutMs?: number; batchFile?: string },
): Promise<RunResult> {
  const how = o.batchFile ? ['-b', o.batchFile] : ['-c', commands.join('; ')];
  return runClient(clientArgs(srv, how), {
    home: o.home,
    cwd: o.cwd,
    env: clientEnv,
    timeoutMs: o.timeoutMs ?? 30000,
  });
}

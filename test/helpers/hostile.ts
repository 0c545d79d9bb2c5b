// The lying SSH/SFTP server (test/py/hostile_server.py) for the client tests: start it in a mode, run
// our client against it in batch mode, stop it.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { runClient, type RunResult } from './jailsftp.js';
import { PYDIR } from './run.js';
import { PY } from './tools.js';

/** What the server serves for every file (CONTENT in hostile_server.py). */
export const CONTENT = Buffer.from('the right bytes\n'.repeat(1000));
export const PASSWORD = 'pw';

export interface Hostile {
  port: number;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Starts hostile_server.py MODE with the RSA host key in keyFile (created when missing). */
export function startHostile(mode: string, keyFile: string): Promise<Hostile> {
  return new Promise((resolve, reject) => {
    const proc = spawn(PY, [join(PYDIR, 'hostile_server.py'), mode, '--key', keyFile], {
      cwd: PYDIR,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`hostile server did not start:\n${err}`));
    }, 30000);
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    proc.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`hostile server exited ${code}:\n${err}`));
    });
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^(\d+)\n/.exec(out);
      if (!m) return;
      clearTimeout(t);
      resolve({
        port: Number(m[1]),
        proc,
        stop: () =>
          new Promise((r) => {
            if (proc.exitCode !== null || proc.signalCode !== null) return r();
            proc.on('exit', () => r());
            proc.kill('SIGKILL');
          }),
      });
    });
  });
}

/** Our client in batch mode (-c, --yes) against a hostile server, logging in with the password. */
export function hostileClient(
  srv: Hostile,
  commands: string[],
  o: { home: string; cwd: string; timeoutMs?: number; batchFile?: string },
): Promise<RunResult> {
  const how = o.batchFile ? ['-b', o.batchFile] : ['-c', commands.join('; ')];
  return runClient(['--yes', '-P', String(srv.port), ...how, 'u@127.0.0.1'], {
    home: o.home,
    cwd: o.cwd,
    env: { JAILSFTP_PASSWORD: PASSWORD },
    timeoutMs: o.timeoutMs ?? 30000,
  });
}

// An OpenSSH `sftp` session kept open (commands written to its standard input over time), to see
// what a connected user sees while the server's state changes (a quota, a lost database); and the
// admin listener's /healthz.
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { sshOpts } from './clients.js';
import { spawnChild, waitFor } from './proc.js';
import type { TestServer, TestUser } from './server.js';

/** GET /healthz: the status code. */
export function healthz(admin: string): Promise<number> {
  return new Promise((res, rej) =>
    get(`http://${admin}/healthz`, (r) => {
      r.resume();
      res(r.statusCode ?? 0);
    }).on('error', rej),
  );
}

/** An OpenSSH sftp kept open (commands on stdin, `-b -`), to run commands in a session over time. */
export class OpenSftp {
  out = '';
  readonly proc: ChildProcess;
  /** when the session ended (sftp exited, or said its connection closed) */
  exitedAt?: number;

  constructor(srv: TestServer, u: TestUser) {
    this.proc = spawnChild('sftp', [...sshOpts(srv, u), '-b', '-', `${u.name}@${srv.host}`], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const add = (d: Buffer): void => {
      this.out += d.toString();
      // sftp waiting for a command says so when its ssh transport ends, and stays
      if (this.exitedAt === undefined && /Received disconnect|Connection closed/.test(this.out))
        this.exitedAt = Date.now();
    };
    this.proc.stdout!.on('data', add);
    this.proc.stderr!.on('data', add);
    this.proc.stdin!.on('error', () => undefined);
    this.proc.on('exit', () => (this.exitedAt ??= Date.now()));
  }

  get running(): boolean {
    return this.exitedAt === undefined;
  }

  /** Sends one command; resolves with the output it added once `until` matches it. */
  async cmd(line: string, until: RegExp, timeoutMs = 10000): Promise<string> {
    const from = this.out.length;
    this.proc.stdin!.write(`${line}\n`);
    await waitFor(
      () => until.test(this.out.slice(from)) || !this.running,
      timeoutMs,
      `"${line}" output ${until}: ${this.out.slice(from)}`,
    );
    const added = this.out.slice(from);
    assert.match(added, until, `sftp ended: ${this.out}`);
    return added;
  }

  /** `df`: the size column in KiB (the quota as the session sees it). */
  async dfSize(): Promise<number> {
    const out = await this.cmd('df', /Size +Used[^\n]*\n\s*\d+/);
    return Number(/Size +Used[^\n]*\n\s*(\d+)/.exec(out)![1]);
  }

  close(): void {
    this.proc.stdin!.end();
    this.proc.kill();
  }
}

// Command lines of the real clients against a test server: OpenSSH ssh/sftp (key, or password via
// sshpass), lftp, PuTTY psftp, rclone; the host key fingerprints psftp and curl pin; the setup
// those clients' tests share.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { join } from 'node:path';
import type { ConnectConfig } from 'ssh2';
import SftpClient from 'ssh2-sftp-client';
import { useServer } from './fixture.js';
import { randomFiles } from './files.js';
import { run, type Run } from './run.js';
import type { TestServer, TestUser } from './server.js';

/** No host key prompts, no known_hosts, only errors on stderr. */
export const SSH_COMMON = [
  ...['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'],
  ...['-o', 'LogLevel=ERROR'],
];

/** Arguments for OpenSSH sftp with the user's key, no host key prompts. */
export function sshOpts(srv: TestServer, u: TestUser): string[] {
  if (!u.keyFile) throw new Error('user needs key:true');
  return [...SSH_COMMON, '-o', 'IdentitiesOnly=yes', '-i', u.keyFile, '-P', String(srv.port)];
}

export interface ClientOptions {
  /** more OpenSSH options, before the destination */
  extra?: string[];
  cwd?: string;
  timeoutMs?: number;
}

/** OpenSSH sftp with the user's key, in batch mode with commands from stdin ("-b -"). */
export function sftpBatch(
  srv: TestServer,
  u: TestUser,
  commands: string,
  opts: ClientOptions = {},
): Promise<Run> {
  return run(
    'sftp',
    [...sshOpts(srv, u), ...(opts.extra ?? []), '-b', '-', `${u.name}@${srv.host}`],
    { cwd: opts.cwd, input: commands, timeoutMs: opts.timeoutMs },
  );
}

/**
 * OpenSSH sftp with a password (given by sshpass), batch commands from stdin. `sftp -b` implies
 * BatchMode=yes, which would never ask for the password: hence BatchMode=no.
 */
export function sftpPassword(
  srv: TestServer,
  u: { name: string; password: string },
  commands: string,
  opts: ClientOptions = {},
): Promise<Run> {
  return run(
    'sshpass',
    [
      ...['-p', u.password, 'sftp', ...SSH_COMMON],
      ...['-o', 'BatchMode=no', '-o', 'PubkeyAuthentication=no'],
      ...['-o', 'PreferredAuthentications=password', ...(opts.extra ?? [])],
      ...['-P', String(srv.port), '-b', '-', `${u.name}@${srv.host}`],
    ],
    { cwd: opts.cwd, input: commands, timeoutMs: opts.timeoutMs },
  );
}

/** OpenSSH ssh with a key file: `args` follow the destination (a command, or ssh options). */
export function sshKey(
  srv: TestServer,
  u: { name: string; keyFile?: string },
  args: string[],
  opts: ClientOptions & { input?: string } = {},
): Promise<Run> {
  if (!u.keyFile) throw new Error('user needs key:true');
  return run(
    'ssh',
    [
      ...[...SSH_COMMON, '-o', 'IdentitiesOnly=yes', '-i', u.keyFile, '-p', String(srv.port)],
      ...(opts.extra ?? []),
      `${u.name}@${srv.host}`,
      ...args,
    ],
    { input: opts.input, timeoutMs: opts.timeoutMs },
  );
}

/**
 * lftp over sftp (OpenSSH's ssh underneath, with the user's key if it has one, else the password):
 * connects, then runs the commands from a script file in srv.dir; stops at the first failing one.
 */
export function lftp(
  srv: TestServer,
  u: TestUser,
  commands: string[],
  opts: { timeoutMs?: number } = {},
): Promise<Run> {
  const ssh = [
    'ssh -a -x -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR',
    u.keyFile ? `-o IdentitiesOnly=yes -i ${u.keyFile}` : '-o PubkeyAuthentication=no',
  ].join(' ');
  const script = [
    'set sftp:auto-confirm yes',
    `set sftp:connect-program "${ssh}"`,
    'set net:max-retries 1',
    'set net:timeout 20',
    'set cmd:fail-exit yes',
    `open -u ${u.name},${u.keyFile ? '' : u.password} -p ${srv.port} sftp://${srv.host}`,
    ...commands,
  ].join('\n');
  const file = join(srv.dir, `script-${Math.random().toString(36).slice(2)}.lftp`);
  writeFileSync(file, script + '\n');
  return run('lftp', ['-f', file], { timeoutMs: opts.timeoutMs ?? 120_000 });
}

/**
 * PuTTY psftp in batch mode with the host keys pinned (-hostkey each), the batch commands from a
 * file in srv.dir. `auth`: ['-i', PPK], ['-pw', PASSWORD] or ['-pwfile', FILE].
 */
export function psftp(
  srv: TestServer,
  u: { name: string },
  batch: string,
  opts: { hostKeys: string[]; auth: string[]; extra?: string[] },
): Promise<Run> {
  const bf = join(srv.dir, `batch-${Math.random().toString(36).slice(2)}`);
  writeFileSync(bf, batch);
  return run(
    'psftp',
    [
      '-batch',
      ...opts.hostKeys.flatMap((h) => ['-hostkey', h]),
      ...['-P', String(srv.port), ...opts.auth, '-b', bf, ...(opts.extra ?? [])],
      `${u.name}@${srv.host}`,
    ],
    { timeoutMs: 120_000 },
  );
}

/** rclone's environment for the remote `j:` (sftp, the user's key), no config file. */
export function rcloneEnv(srv: TestServer, u: TestUser): NodeJS.ProcessEnv {
  return {
    ...process.env,
    RCLONE_CONFIG: '/dev/null',
    RCLONE_CONFIG_J_TYPE: 'sftp',
    RCLONE_CONFIG_J_HOST: srv.host,
    RCLONE_CONFIG_J_PORT: String(srv.port),
    RCLONE_CONFIG_J_USER: u.name,
    RCLONE_CONFIG_J_KEY_FILE: u.keyFile!,
  };
}

/** The host key fingerprint as psftp/curl want it (SHA256:...). */
export function hostKeySha256(srv: TestServer): string {
  const r = srv.cli(['hostkey']);
  const m = /SHA256:[A-Za-z0-9+/=]+/.exec(r.stdout);
  if (!m) throw new Error(`no host key fingerprint in: ${r.stdout}${r.stderr}`);
  return m[0];
}

/**
 * The start of a client's test: a server for t, `local` (a directory in its scratch dir) holding one
 * random file per SIZES entry (`data`: name -> contents), a password user and a key user.
 */
export async function clientSetup(
  t: Pick<TestContext, 'after'>,
  pw: { name: string; password: string },
  keyName: string,
): Promise<{
  srv: TestServer;
  local: string;
  data: Map<string, Buffer>;
  pwUser: TestUser;
  keyUser: TestUser;
}> {
  const srv = await useServer(t);
  const local = join(srv.dir, 'local');
  mkdirSync(local);
  const data = randomFiles(local);
  const pwUser = srv.addUser(pw.name, { password: pw.password });
  const keyUser = srv.addUser(keyName, { key: true });
  return { srv, local, data, pwUser, keyUser };
}

/** OpenSSH sftp with a second factor: the key first, then sshpass types CODE at the
 *  "Verification code" prompt; runs `pwd`. */
export function sftpKeyCode(srv: TestServer, u: TestUser, codeText: string): Promise<Run> {
  return run(
    'sshpass',
    [
      ...['-P', 'Verification code', '-p', codeText, 'sftp', ...SSH_COMMON],
      ...['-o', 'BatchMode=no', '-o', 'IdentitiesOnly=yes', '-i', u.keyFile!],
      ...['-o', 'PreferredAuthentications=publickey,keyboard-interactive'],
      ...['-o', 'NumberOfPasswordPrompts=1', '-P', String(srv.port), '-b', '-'],
      `${u.name}@${srv.host}`,
    ],
    { input: 'pwd\n', timeoutMs: 30000 },
  );
}

/** An ssh2-sftp-client logged in with the user's key file; `extra` adds ssh2 connect options. */
export async function ssh2SftpKey(
  srv: TestServer,
  u: TestUser,
  extra: Partial<ConnectConfig> & Record<string, unknown> = {},
): Promise<SftpClient> {
  const c = new SftpClient();
  await c.connect({
    host: srv.host,
    port: srv.port,
    username: u.name,
    privateKey: readFileSync(u.keyFile!),
    ...extra,
  });
  return c;
}

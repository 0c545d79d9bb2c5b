// Starts the real, built jailsftpd on a loopback port in a scratch directory, for tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { generateKeyPair } from '../../server/ssh/hostkeys.js';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const CLI = join(ROOT, 'dist/server/cli.js');

export interface ServerOptions {
  /** extra JSON config merged into the config file */
  config?: Record<string, unknown>;
  /** environment for the server process */
  env?: Record<string, string>;
  /** reuse an existing scratch directory (restart after a kill) */
  dir?: string;
}

export interface UserOptions {
  password?: string;
  quota?: string | number;
  /** generate an ed25519 key pair for the user (private key file path returned) */
  key?: boolean;
}

export interface TestUser {
  name: string;
  password: string;
  /** private key in OpenSSH format, and its file (mode 0600) */
  privateKey?: string;
  keyFile?: string;
  publicKey?: string;
  home: string;
}

export interface TestServer {
  host: string;
  port: number;
  dir: string;
  usersDir: string;
  homesDir: string;
  keysDir: string;
  configFile: string;
  proc: ChildProcess;
  /** everything the server wrote to stdout and stderr so far */
  output(): string;
  /** runs `jailsftpd ARGS --config CONFIG` synchronously */
  cli(args: string[], input?: string): { status: number | null; stdout: string; stderr: string };
  addUser(name: string, opts?: UserOptions): TestUser;
  /** SIGTERM and wait for exit; returns the exit code */
  stop(): Promise<number | null>;
  /** SIGKILL and wait */
  kill(): Promise<void>;
  /** remove the scratch directory (after stop) */
  cleanup(): void;
}

export async function startServer(opts: ServerOptions = {}): Promise<TestServer> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'jailsftp-test-'));
  const usersDir = join(dir, 'users');
  const homesDir = join(dir, 'home');
  const keysDir = join(dir, 'keys');
  for (const d of [usersDir, homesDir, keysDir]) mkdirSync(d, { recursive: true });
  const configFile = join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify(
      {
        listen: '127.0.0.1:0',
        users: usersDir,
        homes: homesDir,
        hostKeys: keysDir,
        // cheap argon2 in tests, so that logins stay fast
        argon2: { memoryCost: 4096, timeCost: 1, parallelism: 1 },
        ...opts.config,
      },
      null,
      2,
    ),
  );
  let out = '';
  const proc = spawn(process.execPath, [CLI, 'serve', '--config', configFile], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const port = await new Promise<number>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`server did not start:\n${out}`)), 20000);
    const check = (): void => {
      const m = /listening on [^\s]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        res(Number(m[1]));
      }
    };
    proc.stdout!.on('data', check);
    proc.on('exit', (code) => {
      clearTimeout(t);
      rej(new Error(`server exited with ${code}:\n${out}`));
    });
  });
  let exited = false;
  const exitP = new Promise<number | null>((res) =>
    proc.on('exit', (code) => {
      exited = true;
      res(code);
    }),
  );

  const cli: TestServer['cli'] = (args, input) => {
    const r = spawnSync(process.execPath, [CLI, ...args, '--config', configFile], {
      input: input ?? '',
      encoding: 'utf8',
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  const addUser: TestServer['addUser'] = (name, uo = {}) => {
    const password = uo.password ?? `pw-${name}-secret`;
    const args = ['user', 'add', name, '--password-stdin'];
    if (uo.quota !== undefined) args.push('--quota', String(uo.quota));
    const user: TestUser = { name, password, home: join(homesDir, name) };
    if (uo.key) {
      const kp = generateKeyPair('ed25519');
      user.privateKey = kp.private;
      user.publicKey = kp.public;
      user.keyFile = join(dir, `${name}_ed25519`);
      writeFileSync(user.keyFile, kp.private, { mode: 0o600 });
      writeFileSync(`${user.keyFile}.pub`, kp.public + '\n');
      args.push('--key', kp.public);
    }
    const r = cli(args, password + '\n');
    if (r.status !== 0) throw new Error(`user add ${name} failed: ${r.stderr}${r.stdout}`);
    return user;
  };

  return {
    host: '127.0.0.1',
    port,
    dir,
    usersDir,
    homesDir,
    keysDir,
    configFile,
    proc,
    output: () => out,
    cli,
    addUser,
    async stop() {
      if (!exited) proc.kill('SIGTERM');
      return exitP;
    },
    async kill() {
      if (!exited) proc.kill('SIGKILL');
      await exitP;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A throwaway RSA/ed25519 key that no user has, for wrong-key tests. */
export function strangerKey(): string {
  return generateKeyPairSync('ed25519')
    .privateKey.export({ format: 'pem', type: 'pkcs8' })
    .toString();
}

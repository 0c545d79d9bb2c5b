// Starts the real, built jailsftpd on a loopback port in a scratch directory, for tests (startServer)
// and for the bench (launchServer, the part both share).
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { keyPairFile } from './keys.js';
import { spawnChild, tempDir } from './proc.js';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const CLI = join(ROOT, 'dist/server/cli.js');
/** the jailsftpd command (bin/jailsftpd.cjs: it sizes libuv's pool, then loads CLI) */
export const SERVER_ENTRY = join(ROOT, 'bin/jailsftpd.cjs');
/** node's options for `serve`, as npm start and the systemd unit give them (bin/node-flags.cjs) */
export const SERVER_NODE_FLAGS = createRequire(import.meta.url)(
  join(ROOT, 'bin/node-flags.cjs'),
) as readonly string[];

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
  /** also make the home directory (the server makes it at the first login otherwise) */
  home?: boolean;
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

export interface LaunchOptions {
  /** the scratch directory: config.json, users/, home/ and keys/ are made in it */
  dir: string;
  /** JSON config merged over the directories and the loopback listen address */
  config?: Record<string, unknown>;
  /** environment for the server process (added to this one's) */
  env?: Record<string, string>;
  /** node options before the script, e.g. ['--cpu-prof'] */
  nodeArgs?: string[];
  cwd?: string;
  /** keep only about this many characters of output (the latest) */
  maxOutput?: number;
  /** how long to wait for "listening on" (default 20 s) */
  startTimeoutMs?: number;
  /** called with the process as soon as it is spawned */
  onSpawn?: (proc: ChildProcess) => void;
}

export interface Launched {
  proc: ChildProcess;
  port: number;
  configFile: string;
  usersDir: string;
  homesDir: string;
  keysDir: string;
  /** everything the server wrote to stdout and stderr so far */
  output(): string;
  /** resolves with the exit code when the process has exited */
  exit: Promise<number | null>;
  hasExited(): boolean;
}

/** Writes the config, spawns `jailsftpd serve` and waits until it listens. */
export async function launchServer(o: LaunchOptions): Promise<Launched> {
  const { dir } = o;
  const usersDir = join(dir, 'users');
  const homesDir = join(dir, 'home');
  const keysDir = join(dir, 'keys');
  for (const d of [usersDir, homesDir, keysDir]) mkdirSync(d, { recursive: true });
  const configFile = join(dir, 'config.json');
  const config: Record<string, unknown> = {
    listen: '127.0.0.1:0',
    users: usersDir,
    homes: homesDir,
    hostKeys: keysDir,
  };
  // JAILSFTP_TEST_HOMES_IO=pool runs a test file with every home in the pool (README homesIo)
  const io = process.env.JAILSFTP_TEST_HOMES_IO;
  if (io) config.homesIo = io;
  writeFileSync(configFile, JSON.stringify({ ...config, ...o.config }, null, 2));
  let out = '';
  const max = o.maxOutput ?? Infinity;
  const keep = (d: Buffer): void => {
    out += d.toString();
    if (out.length > max) out = out.slice(-Math.floor(max / 2));
  };
  const proc = spawnChild(
    process.execPath,
    [...SERVER_NODE_FLAGS, ...(o.nodeArgs ?? []), SERVER_ENTRY, 'serve', '--config', configFile],
    {
      // as `npm start`: the command sizes the pool (server/threadpool.ts), glibc's arenas limited
      env: { MALLOC_ARENA_MAX: '2', ...process.env, ...o.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: o.cwd,
    },
  );
  o.onSpawn?.(proc);
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  let exited = false;
  const exit = new Promise<number | null>((res) =>
    proc.once('exit', (code) => {
      exited = true;
      res(code);
    }),
  );
  const timeoutMs = o.startTimeoutMs ?? 20000;
  const port = await new Promise<number>((res, rej) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL'); // a server that never listened must not keep the test process alive
      rej(new Error(`server did not start in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const check = (): void => {
      const m = /listening on [^\s]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        proc.stdout!.off('data', check);
        res(Number(m[1]));
      }
    };
    proc.stdout!.on('data', check);
    proc.once('exit', (code) => {
      clearTimeout(t);
      rej(new Error(`server exited with ${code}:\n${out}`));
    });
  });
  return {
    proc,
    port,
    configFile,
    usersDir,
    homesDir,
    keysDir,
    output: () => out,
    exit,
    hasExited: () => exited,
  };
}

/** Runs `jailsftpd ARGS --config CONFIG` synchronously. */
export function serverCli(
  configFile: string,
  args: string[],
  input?: string,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args, '--config', configFile], {
    input: input ?? '',
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export async function startServer(opts: ServerOptions = {}): Promise<TestServer> {
  const dir = opts.dir ?? tempDir('jailsftp-test-');
  const l = await launchServer({
    dir,
    env: opts.env,
    // cheap argon2 in tests, so that logins stay fast
    config: { argon2: { memoryCost: 4096, timeCost: 1, parallelism: 1 }, ...opts.config },
  });
  const { proc, port, configFile, usersDir, homesDir, keysDir } = l;

  const cli: TestServer['cli'] = (args, input) => serverCli(configFile, args, input);

  const addUser: TestServer['addUser'] = (name, uo = {}) => {
    const password = uo.password ?? `pw-${name}-secret`;
    const args = ['user', 'add', name, '--password-stdin'];
    if (uo.quota !== undefined) args.push('--quota', String(uo.quota));
    const user: TestUser = { name, password, home: join(homesDir, name) };
    if (uo.key) {
      user.keyFile = join(dir, `${name}_ed25519`);
      const kp = keyPairFile(user.keyFile);
      user.privateKey = kp.private;
      user.publicKey = kp.public;
      args.push('--key', kp.public);
    }
    const r = cli(args, password + '\n');
    if (r.status !== 0) throw new Error(`user add ${name} failed: ${r.stderr}${r.stdout}`);
    if (uo.home) mkdirSync(user.home, { recursive: true });
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
    output: l.output,
    cli,
    addUser,
    async stop() {
      if (!l.hasExited()) proc.kill('SIGTERM');
      return l.exit;
    },
    async kill() {
      if (!l.hasExited()) proc.kill('SIGKILL');
      await l.exit;
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

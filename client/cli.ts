#!/usr/bin/env node
// jailsftp: the interactive ftp> client, and its batch mode.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { Ctx } from './commands/context.js';
import { LoginError, login, type Connection } from './connect.js';
import { CmdError, Interrupted, describe } from './errors.js';
import { clientVersion } from './local.js';
import { resolveRemote } from './paths.js';
import { Remote } from './remote.js';
import { escapeForTerminal } from './safe-names.js';
import { runBatch, runInteractive } from './shell.js';
import { splitCommands } from './words.js';

const USAGE = `usage: jailsftp [-P PORT] [-i KEYFILE] [-b BATCHFILE] [-c "CMD; CMD"] [--yes] [USER@]HOST[:PORT]

  -P, --port PORT        server port (default 22)
  -i, --identity FILE    private key to log in with
  -b, --batch FILE       run the commands in FILE (- for standard input), no questions
  -c, --command "CMDS"   run commands separated by ';', no questions
  -y, --yes              trust a new host key and resume partial files without asking
  -h, --help             this help
  -V, --version          the client version

Commands read from a pipe run as with -b. A command starting with '-' may fail without
stopping the batch. Type "help" at the ftp> prompt for the commands.
Exit status: 0 ok, 1 a command failed, 2 usage error, 255 connection or login failed.`;

export interface Target {
  user?: string;
  host: string;
  port?: number;
}

export function parseTarget(s: string): Target {
  let rest = s;
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
  }
  let host = rest;
  let port: number | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (v6) {
    host = v6[1]!;
    if (v6[2]) port = Number(v6[2]);
  } else {
    const m = /^([^:]+):(\d+)$/.exec(rest);
    if (m) {
      host = m[1]!;
      port = Number(m[2]);
    }
  }
  if (!host) throw new CmdError('no host given');
  return { user: user || undefined, host, port };
}

function portNumber(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new CmdError(`bad port ${s}`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  // "-c '-rm x'": an option value may start with '-'; parseArgs would take it for an option
  const args: string[] = [];
  const long: Record<string, string> = {
    '-P': 'port',
    '-i': 'identity',
    '-b': 'batch',
    '-c': 'command',
  };
  for (let i = 0; i < argv.length; i++) {
    const name = long[argv[i]!];
    if (name && i + 1 < argv.length) args.push(`--${name}=${argv[++i]}`);
    else args.push(argv[i]!);
  }
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        port: { type: 'string', short: 'P' },
        identity: { type: 'string', short: 'i' },
        batch: { type: 'string', short: 'b' },
        command: { type: 'string', short: 'c' },
        yes: { type: 'boolean', short: 'y' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (err) {
    process.stderr.write(`jailsftp: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (v.version) {
    process.stdout.write(`jailsftp ${clientVersion()}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  let target: Target;
  let port: number;
  try {
    target = parseTarget(positionals[0]!);
    port = v.port !== undefined ? portNumber(v.port) : (target.port ?? 22);
  } catch (err) {
    process.stderr.write(`jailsftp: ${describe(err)}\n`);
    return 2;
  }
  if (v.batch !== undefined && v.command !== undefined) {
    process.stderr.write('jailsftp: -b and -c cannot be used together\n');
    return 2;
  }
  let batchLines: Iterable<string> | (() => AsyncIterable<string>) | undefined;
  if (v.command !== undefined) batchLines = splitCommands(v.command);
  else if (v.batch !== undefined && v.batch !== '-') {
    try {
      batchLines = readFileSync(v.batch, 'utf8').split('\n');
    } catch (err) {
      process.stderr.write(`jailsftp: ${v.batch}: ${describe(err)}\n`);
      return 2;
    }
  } else if (v.batch === '-' || !process.stdin.isTTY) {
    // created after login: lines read before that would be lost
    batchLines = () => createInterface({ input: process.stdin, terminal: false });
  }
  const interactive =
    batchLines === undefined && process.stdin.isTTY === true && process.stdout.isTTY === true;
  // Questions need a terminal on stdin, which batch input from a pipe does not leave us.
  const canAsk = interactive;

  // every line goes through escapeForTerminal: names and messages from a server cannot drive the
  // terminal (move the cursor, set the title)
  const out = (l: string): void => void process.stdout.write(escapeForTerminal(l) + '\n');
  const err = (l: string): void => void process.stderr.write(escapeForTerminal(l) + '\n');

  let conn: Connection;
  try {
    conn = await login({
      host: target.host,
      port,
      user: target.user,
      identity: v.identity,
      yes: v.yes === true,
      interactive: canAsk,
      out,
      err,
    });
  } catch (e) {
    if (e instanceof Interrupted) return 130;
    if (e instanceof LoginError && e.bare) err(e.message);
    else err(`jailsftp: ${describe(e)}`);
    return 255;
  }
  const remote = new Remote(conn.sftp, conn.ssh, conn.sock);
  let home = '/';
  try {
    // the server's answer is normalised: no `..` in it may later name a local path
    home = resolveRemote('/', await remote.realpath('.')).path;
  } catch {
    /* keep / */
  }
  const ctx: Ctx = {
    conn,
    remote,
    cwd: home,
    home,
    yes: v.yes === true,
    batch: !interactive,
    tty: process.stdout.isTTY === true,
    signal: new AbortController().signal,
    suspicious: 0,
    out,
    err,
  };
  let status: number;
  try {
    status = interactive
      ? await runInteractive(ctx)
      : await runBatch(ctx, typeof batchLines === 'function' ? batchLines() : (batchLines ?? []));
  } finally {
    await conn.end();
  }
  return status;
}

let finished = false;
process.on('beforeExit', () => {
  // nothing left to wait for, yet main() never returned: something was dropped; never exit 0 then
  if (!finished) {
    process.stderr.write('jailsftp: internal error: the operation was abandoned\n');
    process.exit(1);
  }
});

main(process.argv.slice(2)).then(
  (code) => {
    finished = true;
    process.exitCode = code;
    // ssh2 may keep a socket or timer alive for a moment after end(); do not wait for it
    setTimeout(() => process.exit(code), 200).unref();
  },
  (e: unknown) => {
    process.stderr.write(`jailsftp: ${escapeForTerminal(describe(e))}\n`);
    process.exit(1);
  },
);

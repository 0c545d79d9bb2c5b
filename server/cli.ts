#!/usr/bin/env node
// jailsftpd: the server and its administration commands.
import './threadpool.js';
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { ConfigError, loadConfig, type Config } from './config.js';
import { formatSize, formatTable, parseSize } from '../common/format.js';
import { hashPassword } from './users/password.js';
import { RULES, SHOWN, type RuleValue } from './users/rules.js';
import { totpCommand } from './users/totp-command.js';
import { parsePublicKeyLine, UserStore, validName, type UserRecord } from './users/store.js';
import { loadHostKeys } from './ssh/hostkeys.js';
import { purgeHome } from './users/purge.js';
import { scanUsage } from './fs/quota.js';
import { readFileSync } from 'node:fs';
import { JailServer } from './ssh/server.js';
import { log, setLogFormat } from './log.js';
import { kickCommand, sessionsCommand } from './ops/admin-commands.js';

const COMMON = {
  config: { type: 'string' },
  users: { type: 'string' },
  homes: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const HELP: Record<string, string> = {
  main: `jailsftpd: SFTP server with jailed homes and quotas

usage:
  jailsftpd [serve] [--config FILE] [--listen HOST:PORT] [--users DIR] [--homes DIR] [--host-keys DIR]
  jailsftpd user add NAME [--quota SIZE] [--password-stdin] [--key FILE_OR_LINE]... [--home DIR]
  jailsftpd user passwd NAME [--password-stdin]
  jailsftpd user key add|remove NAME KEY
  jailsftpd user quota NAME SIZE
  jailsftpd user del NAME [--purge] [--force]
  jailsftpd user list [--json]
  jailsftpd user disable|enable NAME
  jailsftpd user set NAME OPTION...   (see user set --help)
  jailsftpd user show NAME
  jailsftpd user totp NAME enable|disable
  jailsftpd sessions [--admin HOST:PORT] [--json]
  jailsftpd kick NAME [--admin HOST:PORT]
  jailsftpd hostkey

Sizes: 0 (unlimited), bytes, or a unit: 500M, 2GiB, 1.5G.
Every command takes --config FILE, --users DIR, --homes DIR. Run a command with --help for more.`,
  serve: `usage: jailsftpd [serve] [--config FILE] [--listen HOST:PORT] [--users DIR] [--homes DIR] [--host-keys DIR]
                       [--log-format text|json] [--audit-log FILE|-] [--admin-listen HOST:PORT]
                       [--proxy-protocol CIDR[,CIDR]]
Starts the server (default 0.0.0.0:2222, users in ./users, homes in ./home, host keys in ./keys,
created on first start). SIGTERM or Ctrl-C stops it after running transfers finish (grace period).
Log lines go to standard output: \`time event key=value…\`, or one JSON object per line.
--audit-log writes one JSON line per login, logout, transfer and change; --admin-listen serves
/healthz, /metrics and /sessions over HTTP (no authentication: bind it to loopback). SIGHUP re-reads
the config and reopens the audit log.
--proxy-protocol names the load balancers (HAProxy send-proxy-v2): connections from them must begin
with a PROXY v1 or v2 header, whose client address is then used everywhere; a PROXY header from any
other address is refused.`,
  'user add': `usage: jailsftpd user add NAME [--quota SIZE] [--password-stdin] [--key FILE_OR_LINE]... [--home DIR]
Creates a user. Without --password-stdin and on a terminal it asks for the password twice; without
a terminal and without --password-stdin the user logs in with keys only.`,
  'user passwd': 'usage: jailsftpd user passwd NAME [--password-stdin]\nSets a new password.',
  'user key':
    'usage: jailsftpd user key add|remove NAME KEY\nKEY is a public key line or a file holding one.',
  'user quota': 'usage: jailsftpd user quota NAME SIZE\nSets the quota (0 = unlimited).',
  'user del':
    'usage: jailsftpd user del NAME [--purge] [--force]\nDeletes the user; --purge also deletes the home ' +
    '(never following a symbolic link); a home outside the homes directory needs --force.',
  'user list':
    'usage: jailsftpd user list [--json]\nLists users: name, quota, used, keys; --json for scripts (sizes in bytes).',
  'user disable':
    'usage: jailsftpd user disable NAME\nRefuses the user at login; a running server closes their sessions within a second.',
  'user enable': 'usage: jailsftpd user enable NAME\nLets a disabled user log in again.',
  'user set': `usage: jailsftpd user set NAME OPTION...
Changes a user's rules; a running server applies them to open sessions within a second.
${RULES.map((rule) => `  ${rule.help}`).join('\n')}`,
  'user totp': `usage: jailsftpd user totp NAME enable|disable
enable: a new TOTP secret (printed once as an otpauth:// URI and a QR code); from then on the user
gives a password or key, then a verification code (keyboard-interactive). disable: removes it.`,
  'user show':
    "usage: jailsftpd user show NAME\nPrints a user's record and rules (never the password hash).",
  sessions: `usage: jailsftpd sessions [--admin HOST:PORT] [--json]
Lists the running server's sessions (user, address, since, bytes up and down, open handles),
through its admin listener (config adminListen, or --admin).`,
  kick: `usage: jailsftpd kick NAME [--admin HOST:PORT]
Closes every session of a user on the running server, through its admin listener.`,
  hostkey:
    'usage: jailsftpd hostkey [--host-keys DIR]\nPrints the host key fingerprints as ssh-keygen -lf does.',
};

class UsageError extends Error {}

function fail(msg: string): never {
  throw new UsageError(msg);
}

async function readPassword(fromStdin: boolean): Promise<string | undefined> {
  if (fromStdin) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    const pw = Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
    if (!pw) fail('empty password on stdin');
    return pw;
  }
  if (!process.stdin.isTTY) return undefined;
  const a = await askHidden('Password: ');
  const b = await askHidden('Retype password: ');
  if (a !== b) fail('passwords do not match');
  if (!a) fail('empty password');
  return a;
}

function askHidden(prompt: string): Promise<string> {
  return new Promise((res) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
    const out = rl as unknown as { _writeToOutput: (s: string) => void };
    process.stdout.write(prompt);
    out._writeToOutput = () => undefined; // echo nothing
    rl.question('', (answer) => {
      rl.close();
      process.stdout.write('\n');
      res(answer);
    });
  });
}

function keyLine(arg: string): string {
  const text = existsSync(arg) ? readFileSync(arg, 'utf8').trim() : arg;
  try {
    return parsePublicKeyLine(text);
  } catch (e) {
    fail((e as Error).message);
  }
}

/** A size argument; a bad one is a usage error (exit 2). */
function sizeArg(text: string): number {
  try {
    return parseSize(text);
  } catch (e) {
    fail((e as Error).message);
  }
}

function needUser(store: UserStore, name: string | undefined): UserRecord {
  if (!name) fail('missing user NAME');
  const r = store.get(name);
  if (!r) fail(`no such user: ${name}`);
  return r;
}

/** `user list --json`: one object per user, sizes in bytes, for scripts. */
async function listJson(store: UserStore): Promise<void> {
  const out: object[] = [];
  for (const n of store.list()) {
    try {
      const r = store.get(n)!;
      out.push({
        name: n,
        quota: r.quota,
        used: await scanUsage(store.homeOf(r)),
        keys: r.keys.length,
        password: r.password !== undefined,
        home: store.homeOf(r),
        disabled: r.disabled === true,
        expires: r.expires ?? null,
      });
    } catch (e) {
      out.push({ name: n, error: (e as Error).message });
    }
  }
  console.log(JSON.stringify(out, null, 2));
}

async function userCommand(args: string[]): Promise<void> {
  const sub = args[0];
  const helpKey = `user ${sub}`;
  const { values, positionals } = parseArgs({
    args: args.slice(1),
    allowPositionals: true,
    options: {
      ...COMMON,
      quota: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      key: { type: 'string', multiple: true },
      home: { type: 'string' },
      purge: { type: 'boolean' },
      json: { type: 'boolean' },
      ...Object.fromEntries(
        RULES.map((rule) => [rule.option, { type: rule.type, multiple: rule.multiple ?? false }]),
      ),
      force: { type: 'boolean' },
    },
  });
  if (values.help || !sub || !HELP[helpKey]) {
    console.log(HELP[helpKey] ?? HELP.main);
    if (!values.help) process.exitCode = 2;
    return;
  }
  const cfg = loadConfig(values);
  const store = new UserStore(cfg.users, cfg.homes);
  const name = positionals[sub === 'key' ? 1 : 0];
  switch (sub) {
    case 'add': {
      if (!name || !validName(name))
        fail(`invalid user name "${name ?? ''}": letters, digits, _ . - (max 32)`);
      if (store.get(name)) fail(`user ${name} exists`);
      const pw = await readPassword(values['password-stdin'] ?? false);
      const keys = (values.key ?? []).map(keyLine);
      if (!pw && keys.length === 0)
        fail('a user needs a password (--password-stdin) or a key (--key)');
      const r: UserRecord = {
        name,
        password: pw ? await hashPassword(pw, cfg.argon2) : undefined,
        keys,
        quota: values.quota ? sizeArg(values.quota) : 0,
      };
      if (values.home) r.home = values.home;
      store.put(r);
      console.log(
        `user ${name} added (quota ${formatSize(r.quota)}, ${keys.length} key(s), home ${store.homeOf(r)})`,
      );
      return;
    }
    case 'passwd': {
      const r = needUser(store, name);
      const pw = await readPassword(values['password-stdin'] ?? false);
      if (!pw) fail('no password given: use --password-stdin or a terminal');
      r.password = await hashPassword(pw, cfg.argon2);
      store.put(r);
      console.log(`password of ${r.name} changed`);
      return;
    }
    case 'key': {
      const action = positionals[0];
      const r = needUser(store, name);
      const key = positionals[2];
      if (!key || (action !== 'add' && action !== 'remove')) fail(HELP['user key']!);
      const line = keyLine(key);
      const blob = line.split(' ')[1];
      if (action === 'add') {
        if (r.keys.some((k) => k.split(' ')[1] === blob)) fail('key already present');
        r.keys.push(line);
      } else {
        const before = r.keys.length;
        r.keys = r.keys.filter((k) => k.split(' ')[1] !== blob);
        if (r.keys.length === before) fail('no such key for this user');
      }
      store.put(r);
      console.log(
        `key ${action === 'add' ? 'added to' : 'removed from'} ${r.name} (${r.keys.length} key(s))`,
      );
      return;
    }
    case 'quota': {
      const r = needUser(store, name);
      const size = positionals[1];
      if (size === undefined) fail('missing SIZE');
      r.quota = sizeArg(size);
      store.put(r);
      console.log(`quota of ${r.name}: ${formatSize(r.quota)}`);
      return;
    }
    case 'del': {
      const r = needUser(store, name);
      const home = store.homeOf(r);
      if (!values.purge) {
        store.delete(r.name);
        console.log(`user ${r.name} deleted`);
        return;
      }
      // checks come first: a refused purge keeps the user and removes nothing
      const did = purgeHome(home, cfg.homes, values.force ?? false, () => store.delete(r.name));
      console.log(`user ${r.name} deleted with its home (${did})`);
      return;
    }
    case 'disable':
    case 'enable': {
      const r = needUser(store, name);
      if (sub === 'disable') r.disabled = true;
      else delete r.disabled;
      store.put(r);
      console.log(`user ${r.name} ${sub}d`);
      return;
    }
    case 'set': {
      const r = needUser(store, name);
      const given = RULES.filter(
        (rule) => values[rule.option as keyof typeof values] !== undefined,
      );
      if (given.length === 0) fail(HELP['user set']!);
      const changed: string[] = [];
      for (const rule of given) {
        try {
          changed.push(rule.apply(r, values[rule.option as keyof typeof values] as RuleValue));
        } catch (e) {
          fail(`--${rule.option}: ${(e as Error).message}`);
        }
      }
      store.put(r);
      console.log(`user ${r.name}: ${changed.join('; ')}`);
      return;
    }
    case 'totp': {
      try {
        console.log(totpCommand(store, needUser(store, name), positionals[1]));
      } catch (e) {
        fail((e as Error).message);
      }
      return;
    }
    case 'show': {
      const r = needUser(store, name);
      const rows: [string, string][] = [
        ['name', r.name],
        ['home', store.homeOf(r)],
        ...SHOWN.map((f) => f(r, cfg)),
      ];
      const w = Math.max(...rows.map(([k]) => k.length));
      for (const [k, v] of rows) console.log(`${`${k}:`.padEnd(w + 2)}${v}`);
      return;
    }
    case 'list': {
      if (values.json) return listJson(store);
      const rows = [['NAME', 'QUOTA', 'USED', 'KEYS']];
      for (const n of store.list()) {
        try {
          const r = store.get(n)!;
          const used = await scanUsage(store.homeOf(r));
          rows.push([
            n,
            formatSize(r.quota),
            used === 0 ? '0 B' : formatSize(used),
            String(r.keys.length),
          ]);
        } catch (e) {
          rows.push([n, 'error', (e as Error).message, '']);
        }
      }
      for (const line of formatTable(rows)) console.log(line);
      return;
    }
  }
}

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...COMMON,
      listen: { type: 'string' },
      'host-keys': { type: 'string' },
      'log-format': { type: 'string' },
      'audit-log': { type: 'string' },
      'admin-listen': { type: 'string' },
      'proxy-protocol': { type: 'string' },
    },
  });
  if (values.help) return void console.log(HELP.serve);
  const overrides = {
    ...values,
    hostKeys: values['host-keys'],
    logFormat: values['log-format'],
    auditLog: values['audit-log'],
    adminListen: values['admin-listen'],
    proxyProtocol: values['proxy-protocol'],
  };
  const cfg: Config = loadConfig(overrides);
  setLogFormat(cfg.logFormat);
  const server = new JailServer(cfg);
  for (const k of server.createdKeys) console.log(`created host key ${k}`);
  for (const l of server.hostKeyLines) console.log(`host key ${l}`);
  const { host, port, admin } = await server.listen();
  log('listening', { users: cfg.users, homes: cfg.homes });
  console.log(`jailsftpd listening on ${host}:${port}`);
  if (admin) console.log(`jailsftpd admin listening on ${admin}`);
  // SIGHUP: the config file again (a bad one is refused and the running config kept), and the
  // audit log opened anew (logrotate)
  process.on('SIGHUP', () => {
    try {
      const next = loadConfig(overrides);
      server.reload(next);
      setLogFormat(next.logFormat);
      log('reload', { config: values.config ?? '(none)' });
    } catch (e) {
      log('reload.refused', { error: (e as Error).message });
    }
  });
  let stopping = false;
  const stop = (sig: string, code = 0): void => {
    if (stopping) process.exit(1); // second signal: leave now
    stopping = true;
    log('shutdown', { signal: sig, grace: cfg.shutdownGrace });
    void server.shutdown(cfg.shutdownGrace).then(() => process.exit(code));
  };
  // A bug in the handling of one request, channel or connection is caught at that boundary and
  // ends only that session or connection (engine.ts, session.ts, ssh/server.ts). An exception
  // that still reaches the process escaped all of them: the state it interrupted (running
  // requests, session counts, a quota ledger) can no longer be trusted, and serving on could let
  // a user pass the quota or lock a user out. So: log it with its stack, stop accepting, let the
  // running transfers finish within the shutdown grace, and exit with status 70 (EX_SOFTWARE) so
  // that the service manager starts a clean process. A watchdog makes sure the process does go.
  const fatal = (event: string, e: unknown): void => {
    log(event, { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    if (stopping) return;
    setTimeout(() => process.exit(70), (cfg.shutdownGrace + 15) * 1000).unref();
    stop(event, 70);
  };
  process.on('uncaughtException', (e) => fatal('bug.uncaught', e));
  process.on('unhandledRejection', (e) => fatal('bug.unhandled_rejection', e));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function main(argv: string[]): Promise<void> {
  const cmd = argv[0];
  if (cmd === 'user') return userCommand(argv.slice(1));
  if (cmd === 'hostkey') {
    const { values } = parseArgs({
      args: argv.slice(1),
      options: { ...COMMON, 'host-keys': { type: 'string' } },
    });
    if (values.help) return void console.log(HELP.hostkey);
    const cfg = loadConfig({ ...values, hostKeys: values['host-keys'] });
    const keys = loadHostKeys(cfg.hostKeys);
    if (keys.length === 0)
      fail(`no host keys in ${cfg.hostKeys} (they are created on first start)`);
    for (const k of keys) console.log(k.fingerprintLine);
    return;
  }
  if (cmd === 'sessions' || cmd === 'kick') {
    const { values, positionals } = parseArgs({
      args: argv.slice(1),
      allowPositionals: true,
      options: { ...COMMON, admin: { type: 'string' }, json: { type: 'boolean' } },
    });
    if (values.help) return void console.log(HELP[cmd]);
    const admin = values.admin ?? loadConfig(values).adminListen;
    if (cmd === 'sessions') return sessionsCommand(admin, values.json ?? false);
    if (!positionals[0]) fail(HELP.kick!);
    return kickCommand(admin, positionals[0]);
  }
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') return void console.log(HELP.main);
  if (cmd === 'serve') return serve(argv.slice(1));
  if (cmd === undefined || cmd.startsWith('-')) return serve(argv);
  fail(`unknown command "${cmd}"\n\n${HELP.main}`);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  const msg = e instanceof Error ? e.message : String(e);
  console.error(`jailsftpd: ${msg}`);
  process.exit(
    e instanceof UsageError ||
      e instanceof ConfigError ||
      (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
      ? 2
      : 1,
  );
});

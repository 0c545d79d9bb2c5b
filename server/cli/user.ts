// `jailsftpd user …`: the user administration commands, on either store (UserRecords: the users
// directory, or PostgreSQL). A running server sees every change: the file store's watch, or the
// PostgreSQL store's NOTIFY, reaches every node's open sessions.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { formatSize, formatTable } from '../../common/format.js';
import { hashPassword } from '../users/password.js';
import { RULES, SHOWN, type RuleValue } from '../users/rules.js';
import { totpCommand } from '../users/totp-command.js';
import { validName, type UserRecord } from '../users/store.js';
import type { UserRecords } from '../users/records.js';
import { purgeHome } from '../users/purge.js';
import { openRecords } from '../store/open.js';
import { COMMON, fail, keyLine, readPassword, sizeArg, storeOverride } from './args.js';
import { HELP } from './help.js';

async function needUser(records: UserRecords, name: string | undefined): Promise<UserRecord> {
  if (!name) fail('missing user NAME');
  const r = await records.get(name);
  if (!r) fail(`no such user: ${name}`);
  return r;
}

/** One user as `user list --json` prints it: sizes in bytes, rates null when the config's apply. */
async function listEntry(records: UserRecords, name: string): Promise<object> {
  try {
    const r = await records.get(name);
    if (!r) return { name, error: 'gone' };
    return {
      name,
      quota: r.quota,
      used: await records.used(r),
      keys: r.keys.length,
      password: r.password !== undefined,
      home: records.homeOf(r),
      disabled: r.disabled === true,
      expires: r.expires ?? null,
      totp: r.totp !== undefined,
      uploadRate: r.uploadRate ?? null,
      downloadRate: r.downloadRate ?? null,
    };
  } catch (e) {
    return { name, error: (e as Error).message };
  }
}

async function list(records: UserRecords, json: boolean): Promise<void> {
  const names = await records.list();
  if (json) {
    const out: object[] = [];
    for (const n of names) out.push(await listEntry(records, n));
    console.log(JSON.stringify(out, null, 2));
    return;
  }
  const rows = [['NAME', 'QUOTA', 'USED', 'KEYS']];
  for (const n of names) {
    try {
      const r = await records.get(n);
      if (!r) continue;
      const used = await records.used(r);
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
}

export async function userCommand(args: string[]): Promise<void> {
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
  const cfg = loadConfig({ ...values, store: storeOverride(values.store) });
  const records = await openRecords(cfg);
  try {
    await run(sub, records, cfg, values, positionals);
  } finally {
    await records.close();
  }
}

type Values = Record<string, string | boolean | string[] | undefined>;

async function run(
  sub: string,
  records: UserRecords,
  cfg: ReturnType<typeof loadConfig>,
  values: Values,
  positionals: string[],
): Promise<void> {
  const name = positionals[sub === 'key' ? 1 : 0];
  switch (sub) {
    case 'add': {
      if (!name || !validName(name))
        fail(`invalid user name "${name ?? ''}": letters, digits, _ . - (max 32)`);
      if (await records.get(name)) fail(`user ${name} exists`);
      const pw = await readPassword(values['password-stdin'] === true);
      const keys = ((values.key as string[] | undefined) ?? []).map(keyLine);
      if (!pw && keys.length === 0)
        fail('a user needs a password (--password-stdin) or a key (--key)');
      const r: UserRecord = {
        name,
        password: pw ? await hashPassword(pw, cfg.argon2) : undefined,
        keys,
        quota: typeof values.quota === 'string' ? sizeArg(values.quota) : 0,
      };
      if (r.password === undefined) delete r.password;
      if (typeof values.home === 'string') r.home = values.home;
      if (!(await records.create(r))) fail(`user ${name} exists`);
      console.log(
        `user ${name} added (quota ${formatSize(r.quota)}, ${keys.length} key(s), home ${records.homeOf(r)})`,
      );
      return;
    }
    case 'passwd': {
      const r = await needUser(records, name);
      const pw = await readPassword(values['password-stdin'] === true);
      if (!pw) fail('no password given: use --password-stdin or a terminal');
      r.password = await hashPassword(pw, cfg.argon2);
      await records.put(r);
      console.log(`password of ${r.name} changed`);
      return;
    }
    case 'key': {
      const action = positionals[0];
      const r = await needUser(records, name);
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
      await records.put(r);
      console.log(
        `key ${action === 'add' ? 'added to' : 'removed from'} ${r.name} (${r.keys.length} key(s))`,
      );
      return;
    }
    case 'quota': {
      const r = await needUser(records, name);
      const size = positionals[1];
      if (size === undefined) fail('missing SIZE');
      r.quota = sizeArg(size);
      await records.put(r);
      console.log(`quota of ${r.name}: ${formatSize(r.quota)}`);
      return;
    }
    case 'del': {
      const r = await needUser(records, name);
      const home = records.homeOf(r);
      if (!values.purge) {
        await records.delete(r.name);
        console.log(`user ${r.name} deleted`);
        return;
      }
      // checks come first: a refused purge keeps the user and removes nothing
      const did = await purgeHome(home, cfg.homes, values.force === true, () =>
        records.delete(r.name),
      );
      console.log(`user ${r.name} deleted with its home (${did})`);
      return;
    }
    case 'disable':
    case 'enable': {
      const r = await needUser(records, name);
      if (sub === 'disable') r.disabled = true;
      else delete r.disabled;
      await records.put(r);
      console.log(`user ${r.name} ${sub}d`);
      return;
    }
    case 'set': {
      const r = await needUser(records, name);
      const given = RULES.filter((rule) => values[rule.option] !== undefined);
      if (given.length === 0) fail(HELP['user set']!);
      const changed: string[] = [];
      for (const rule of given) {
        try {
          changed.push(rule.apply(r, values[rule.option] as RuleValue));
        } catch (e) {
          fail(`--${rule.option}: ${(e as Error).message}`);
        }
      }
      await records.put(r);
      console.log(`user ${r.name}: ${changed.join('; ')}`);
      return;
    }
    case 'totp': {
      const r = await needUser(records, name);
      let out: string;
      try {
        out = await totpCommand((x) => records.put(x), r, positionals[1]);
      } catch (e) {
        fail((e as Error).message);
      }
      console.log(out);
      return;
    }
    case 'show': {
      const r = await needUser(records, name);
      const rows: [string, string][] = [
        ['name', r.name],
        ['home', records.homeOf(r)],
        ...SHOWN.map((f) => f(r, cfg)),
      ];
      const w = Math.max(...rows.map(([k]) => k.length));
      for (const [k, v] of rows) console.log(`${`${k}:`.padEnd(w + 2)}${v}`);
      return;
    }
    case 'list':
      return list(records, values.json === true);
  }
}

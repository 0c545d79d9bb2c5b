// Address rules (issue 13) with real clients bound to 127.0.0.2 and 127.0.0.3 (the server listens
// on 127.0.0.1): per-user allowFrom/denyFrom refused with exactly a wrong password's answer, logged
// and audited with the rule; global allowFrom/denyFrom refusing at connection time; CIDR checks at
// `user set` and at config load; a rule change ending an open session within a second.
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2, { type SFTPWrapper } from 'ssh2';
import {
  AddressRules,
  parseCidrList,
  userAddressRefusal,
} from '../server/account/address-rules.js';
import { auditEvents } from './helpers/files.js';
import { fixture } from './helpers/fixture.js';
import { sftpPassword } from './helpers/clients.js';
import { CLI, type TestServer } from './helpers/server.js';
import { needs } from './helpers/tools.js';

interface Session {
  conn: ssh2.Client;
  sftp: SFTPWrapper;
  closed: Promise<number>;
}

/** An ssh2 SFTP session from `from` (a loopback address); rejects with the client's error. */
async function openFrom(
  srv: TestServer,
  from: string,
  user: string,
  password: string,
): Promise<Session> {
  const conn = new ssh2.Client();
  const closed = new Promise<number>((res) => conn.on('close', () => res(Date.now())));
  conn.on('error', () => undefined);
  await new Promise<void>((res, rej) => {
    conn.once('ready', () => res()).once('error', rej);
    conn.connect({
      host: srv.host,
      port: srv.port,
      localAddress: from,
      username: user,
      password,
      readyTimeout: 15000,
    });
  });
  const sftp = await new Promise<SFTPWrapper>((res, rej) =>
    conn.sftp((err, s) => (err ? rej(err) : res(s))),
  );
  return { conn, sftp, closed };
}

/** The error text a login from `from` ends with, or `ok` (and the session is closed). */
async function loginFrom(
  srv: TestServer,
  from: string,
  user: string,
  password: string,
): Promise<string> {
  try {
    const s = await openFrom(srv, from, user, password);
    s.conn.end();
    return 'ok';
  } catch (e) {
    return (e as Error).message;
  }
}

/** The server's output once it matches `re` (log lines reach the test a little after the client's answer). */
async function logged(srv: TestServer, re: RegExp, ms = 5000): Promise<string> {
  const end = Date.now() + ms;
  while (!re.test(srv.output()) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return srv.output();
}

/** Audit events once `enough` holds of them (or after `ms`). */
async function auditWhen(
  srv: TestServer,
  enough: (e: Array<Record<string, unknown>>) => boolean,
  ms = 5000,
): Promise<Array<Record<string, unknown>>> {
  const end = Date.now() + ms;
  while (!enough(audit(srv)) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return audit(srv);
}

function audit(srv: TestServer): Array<Record<string, unknown>> {
  const file = join(srv.dir, 'audit.log');
  return auditEvents<Record<string, unknown>>(file);
}

async function server(t: TestContext, config: Record<string, unknown> = {}): Promise<TestServer> {
  const fx = fixture(t);
  const dir = fx.tempDir('jailsftp-addr-');
  return fx.server({
    dir,
    config: { auditLog: join(dir, 'audit.log'), shutdownGrace: 2, ...config },
  });
}

test('rules: IPv4, IPv6 and IPv4-mapped addresses; deny wins; empty lists allow everyone', () => {
  const r = new AddressRules({ allowFrom: ['127.0.0.0/8', '::1/128'], denyFrom: ['127.0.0.3/32'] });
  assert.equal(r.refusal('127.0.0.2'), null);
  assert.equal(r.refusal('::ffff:127.0.0.2'), null, 'IPv4-mapped matches IPv4 rules');
  assert.equal(r.refusal('::1'), null);
  assert.equal(r.refusal('127.0.0.3'), 'address 127.0.0.3 in denyFrom 127.0.0.3/32');
  assert.equal(r.refusal('::ffff:127.0.0.3'), 'address 127.0.0.3 in denyFrom 127.0.0.3/32');
  assert.equal(r.refusal('::2'), 'address ::2 not in allowFrom 127.0.0.0/8,::1/128');
  assert.equal(new AddressRules({ allowFrom: ['::1/128'] }).refusal('127.0.0.1') !== null, true);
  assert.equal(new AddressRules({}).refusal('203.0.113.9'), null);
  assert.equal(userAddressRefusal({ denyFrom: ['::/0'] }, '::1'), 'address ::1 in denyFrom ::/0');
  assert.match(
    new AddressRules({ denyFrom: ['127.0.0.3'] }, 'global ').refusal('127.0.0.3') ?? '',
    /in global denyFrom 127\.0\.0\.3$/, // as configured
  );
  assert.deepEqual(parseCidrList('127.0.0.2/32, ::1'), ['127.0.0.2/32', '::1/128']);
  assert.deepEqual(parseCidrList('none'), []);
  assert.deepEqual(parseCidrList(''), []);
  assert.throws(() => parseCidrList('127.0.0.1/33'), /invalid CIDR "127\.0\.0\.1\/33".*0 to 32/);
  assert.throws(() => parseCidrList('::1/129'), /0 to 128/);
  assert.throws(() => parseCidrList('localhost'), /"localhost" is not an IP address/);
  assert.throws(() => parseCidrList('10.0.0.1/x'), /invalid CIDR/);
});

test('CIDR validation: user set refuses a bad CIDR (exit 2), config load names the key', async (t) => {
  const srv = await server(t);
  srv.addUser('ann', { password: 'ann-pw' });
  const bad = srv.cli(['user', 'set', 'ann', '--allow-from', '127.0.0.2/32,10.1.2.300/8']);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--allow-from: invalid CIDR "10\.1\.2\.300\/8"/);
  const ok = srv.cli(['user', 'set', 'ann', '--deny-from', '127.0.0.3/32,::1/128']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /denyFrom 127\.0\.0\.3\/32,::1\/128/);
  assert.match(srv.cli(['user', 'show', 'ann']).stdout, /^denyFrom: +127\.0\.0\.3\/32,::1\/128$/m);
  const cleared = srv.cli(['user', 'set', 'ann', '--deny-from', 'none']);
  assert.equal(cleared.status, 0, cleared.stderr);
  assert.match(srv.cli(['user', 'show', 'ann']).stdout, /^denyFrom: +none$/m);
  const rec = JSON.parse(readFileSync(join(srv.usersDir, 'ann.json'), 'utf8')) as object;
  assert.equal('denyFrom' in rec, false);

  // the config: bad CIDRs and wrong types refused with the key's path, exit status 2
  const cases: Array<[unknown, RegExp]> = [
    [{ allowFrom: ['127.0.0.1/33'] }, /"allowFrom\[0\]": invalid CIDR "127\.0\.0\.1\/33"/],
    [{ denyFrom: ['::1/128', 'nope'] }, /"denyFrom\[1\]": invalid CIDR "nope"/],
    [{ denyFrom: '127.0.0.3/32' }, /"denyFrom" must be an array of CIDRs/],
    [{ allowFrom: [7] }, /"allowFrom\[0\]": not a CIDR: number 7/],
  ];
  const dir = fixture(t).tempDir('jailsftp-addr-bad-');
  for (const [config, want] of cases) {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(config));
    const r = spawnSync(
      process.execPath,
      [CLI, 'serve', '--config', file, '--listen', '127.0.0.1:0'],
      { encoding: 'utf8', timeout: 20000, cwd: dir },
    );
    assert.equal(r.status, 2, `${JSON.stringify(config)}: ${r.stderr}`);
    assert.match(r.stderr, want, JSON.stringify(config));
  }
});

test('per-user allowFrom: 127.0.0.2 logs in, 127.0.0.3 gets a wrong password answer', async (t) => {
  const srv = await server(t);
  srv.addUser('bob', { password: 'bob-pw' });
  const set = srv.cli(['user', 'set', 'bob', '--allow-from', '127.0.0.2/32,::1/128']);
  assert.equal(set.status, 0, set.stderr);
  assert.equal(await loginFrom(srv, '127.0.0.2', 'bob', 'bob-pw'), 'ok');
  const refused = await loginFrom(srv, '127.0.0.3', 'bob', 'bob-pw');
  const wrongPw = await loginFrom(srv, '127.0.0.2', 'bob', 'not-the-password');
  assert.notEqual(refused, 'ok');
  assert.equal(refused, wrongPw, 'a refused address looks exactly like a wrong password');
  assert.match(
    await logged(
      srv,
      /login\.refused .*addr=127\.0\.0\.3.*reason="address 127\.0\.0\.3 not in allowFrom 127\.0\.0\.2\/32,::1\/128"/,
    ),
    /login\.refused .*addr=127\.0\.0\.3.*reason="address 127\.0\.0\.3 not in allowFrom 127\.0\.0\.2\/32,::1\/128"/,
  );
  const bobs = (e: Array<Record<string, unknown>>): Array<Record<string, unknown>> =>
    e.filter((x) => x.event === 'login' && x.user === 'bob');
  const ev = bobs(await auditWhen(srv, (e) => bobs(e).length >= 3));
  assert.deepEqual(
    ev.map((e) => [e.addr, e.status]),
    [
      ['127.0.0.2', 'ok'],
      ['127.0.0.3', 'address 127.0.0.3 not in allowFrom 127.0.0.2/32,::1/128'],
      ['127.0.0.2', 'wrong credentials'],
    ],
  );
  // cleared: everyone again
  assert.equal(srv.cli(['user', 'set', 'bob', '--allow-from', '']).status, 0);
  assert.equal(await loginFrom(srv, '127.0.0.3', 'bob', 'bob-pw'), 'ok');
});

test(
  'per-user allowFrom with OpenSSH: the refusal reads as a wrong password',
  { skip: needs('sftp', 'sshpass') },
  async (t) => {
    const srv = await server(t);
    const u = srv.addUser('cid', { password: 'cid-pw', home: true });
    assert.equal(srv.cli(['user', 'set', 'cid', '--allow-from', '127.0.0.2']).status, 0);
    const bind = (a: string): { extra: string[] } => ({ extra: ['-o', `BindAddress=${a}`] });
    const ok = await sftpPassword(srv, u, 'pwd\n', bind('127.0.0.2'));
    assert.equal(ok.status, 0, ok.stderr);
    const refused = await sftpPassword(srv, u, 'pwd\n', bind('127.0.0.3'));
    const wrong = await sftpPassword(srv, { ...u, password: 'wrong' }, 'pwd\n', bind('127.0.0.2'));
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /Permission denied/);
    const strip = (s: string): string => s.replace(/^.*Warning: Permanently added.*\n/gm, '');
    assert.equal(strip(refused.stderr), strip(wrong.stderr));
    assert.equal(refused.status, wrong.status);
  },
);

test('per-user denyFrom: the denied address is refused, others log in', async (t) => {
  const srv = await server(t);
  srv.addUser('dee', { password: 'dee-pw' });
  assert.equal(srv.cli(['user', 'set', 'dee', '--deny-from', '127.0.0.3/32']).status, 0);
  assert.equal(await loginFrom(srv, '127.0.0.2', 'dee', 'dee-pw'), 'ok');
  assert.equal(
    await loginFrom(srv, '127.0.0.3', 'dee', 'dee-pw'),
    await loginFrom(srv, '127.0.0.2', 'dee', 'wrong'),
  );
  assert.match(
    await logged(srv, /reason="address 127\.0\.0\.3 in denyFrom 127\.0\.0\.3\/32"/),
    /reason="address 127\.0\.0\.3 in denyFrom 127\.0\.0\.3\/32"/,
  );
});

test('global denyFrom and allowFrom (config): refused at connection time', async (t) => {
  const deny = await server(t, { denyFrom: ['127.0.0.3/32'] });
  deny.addUser('eve', { password: 'eve-pw' });
  assert.equal(await loginFrom(deny, '127.0.0.2', 'eve', 'eve-pw'), 'ok');
  assert.notEqual(await loginFrom(deny, '127.0.0.3', 'eve', 'eve-pw'), 'ok');
  assert.match(
    await logged(
      deny,
      /connection\.refused addr=127\.0\.0\.3 reason="address 127\.0\.0\.3 in global denyFrom 127\.0\.0\.3\/32"/,
    ),
    /connection\.refused addr=127\.0\.0\.3 reason="address 127\.0\.0\.3 in global denyFrom 127\.0\.0\.3\/32"/,
  );
  assert.doesNotMatch(deny.output(), /login\.\w+ user=eve addr=127\.0\.0\.3/, 'no auth work');

  const allow = await server(t, { allowFrom: ['127.0.0.2/32'] });
  allow.addUser('fay', { password: 'fay-pw' });
  assert.equal(await loginFrom(allow, '127.0.0.2', 'fay', 'fay-pw'), 'ok');
  assert.notEqual(await loginFrom(allow, '127.0.0.3', 'fay', 'fay-pw'), 'ok');
  assert.match(
    await logged(allow, /reason="address 127\.0\.0\.3 not in global allowFrom 127\.0\.0\.2\/32"/),
    /reason="address 127\.0\.0\.3 not in global allowFrom 127\.0\.0\.2\/32"/,
  );
  const ev = (await auditWhen(allow, (e) => e.some((x) => x.event === 'refused'))).find(
    (e) => e.event === 'refused',
  );
  assert.equal(ev?.addr, '127.0.0.3');
  assert.match(String(ev?.status), /not in global allowFrom/);
});

test('live: a rule change that refuses an open session ends it within a second', async (t) => {
  const srv = await server(t);
  srv.addUser('gus', { password: 'gus-pw', home: true });
  const a = await openFrom(srv, '127.0.0.2', 'gus', 'gus-pw');
  const b = await openFrom(srv, '127.0.0.3', 'gus', 'gus-pw');
  t.after(() => {
    a.conn.end();
    b.conn.end();
  });
  assert.equal(srv.cli(['user', 'set', 'gus', '--allow-from', '127.0.0.2/32']).status, 0);
  const changed = Date.now(); // the record is written (the CLI's own start-up is not counted)
  const closedAt = await Promise.race([
    b.closed,
    new Promise<number>((r) => setTimeout(r, 3000, 0)),
  ]);
  assert.ok(closedAt > 0, 'the session from 127.0.0.3 was closed');
  assert.ok(closedAt - changed < 1200, `took ${closedAt - changed} ms`);
  // the allowed one keeps working
  const list = await new Promise<unknown[]>((res, rej) =>
    a.sftp.readdir('/', (e, l) => (e ? rej(e) : res(l))),
  );
  assert.ok(Array.isArray(list));
  a.conn.end();
  assert.match(
    await logged(srv, /connection\.closed user=gus addr=127\.0\.0\.3 .*not in allowFrom/),
    /connection\.closed user=gus addr=127\.0\.0\.3 .*not in allowFrom/,
  );
});

test('SIGHUP with new global rules: refused connections end, a bad CIDR keeps the old rules', async (t) => {
  const srv = await server(t);
  srv.addUser('hal', { password: 'hal-pw', home: true });
  const a = await openFrom(srv, '127.0.0.2', 'hal', 'hal-pw');
  const b = await openFrom(srv, '127.0.0.3', 'hal', 'hal-pw');
  t.after(() => {
    a.conn.end();
    b.conn.end();
  });
  const cfg = JSON.parse(readFileSync(srv.configFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(srv.configFile, JSON.stringify({ ...cfg, denyFrom: ['127.0.0.3'] }));
  srv.proc.kill('SIGHUP');
  const closedAt = await Promise.race([
    b.closed,
    new Promise<number>((r) => setTimeout(r, 5000, 0)),
  ]);
  assert.ok(closedAt > 0, 'the connection from 127.0.0.3 was closed');
  assert.notEqual(await loginFrom(srv, '127.0.0.3', 'hal', 'hal-pw'), 'ok');
  assert.equal(await loginFrom(srv, '127.0.0.2', 'hal', 'hal-pw'), 'ok');
  // a bad CIDR at reload: refused with its path, the running rules stay
  writeFileSync(srv.configFile, JSON.stringify({ ...cfg, denyFrom: ['127.0.0.300'] }));
  srv.proc.kill('SIGHUP');
  assert.match(
    await logged(srv, /reload\.refused .*denyFrom\[0\].*invalid CIDR .*127\.0\.0\.300/),
    /reload\.refused .*denyFrom\[0\].*invalid CIDR .*127\.0\.0\.300/,
  );
  assert.notEqual(await loginFrom(srv, '127.0.0.3', 'hal', 'hal-pw'), 'ok');
  const list = await new Promise<unknown[]>((res, rej) =>
    a.sftp.readdir('/', (e, l) => (e ? rej(e) : res(l))),
  );
  assert.ok(Array.isArray(list), 'the allowed session survived both reloads');
  a.conn.end();
});

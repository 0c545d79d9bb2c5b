// The jailsftpd command line: help texts, user administration, host keys, and a running server
// that sees user changes without a restart.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import SftpClient from 'ssh2-sftp-client';
import { fixture, useServer } from './helpers/fixture.js';
import { CLI, ROOT, SERVER_ENTRY, SERVER_NODE_FLAGS, type TestServer } from './helpers/server.js';
import { generateKeyPair } from '../server/ssh/hostkeys.js';

function run(
  args: string[],
  input = '',
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function record(srv: TestServer, name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(srv.usersDir, `${name}.json`), 'utf8')) as Record<
    string,
    unknown
  >;
}

function keyPair(): { priv: string; pub: string } {
  const kp = generateKeyPair('ed25519');
  return { priv: kp.private, pub: kp.public };
}

/** Logs in with ssh2-sftp-client and lists "/"; returns the error message or 'ok'. */
async function tryLogin(
  srv: TestServer,
  user: string,
  auth: { password?: string; privateKey?: string },
): Promise<string> {
  const c = new SftpClient();
  try {
    await c.connect({
      host: srv.host,
      port: srv.port,
      username: user,
      ...auth,
      readyTimeout: 8000,
    });
    await c.list('/');
    return 'ok';
  } catch (e) {
    return (e as Error).message;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** OPEN(w) + one WRITE through ssh2's SFTP object; returns 'ok' or the server's status message. */
function rawWrite(c: SftpClient, path: string, data: Buffer): Promise<string> {
  const sftp = (c as unknown as { sftp: ssh2.SFTPWrapper }).sftp;
  return new Promise((res) =>
    sftp.open(path, 'w', (e, h) => {
      if (e) return res(e.message);
      sftp.write(h, data, 0, data.length, 0, (e2) =>
        sftp.close(h, () => res(e2 ? e2.message : 'ok')),
      );
    }),
  );
}

test('jailsftpd --help and every subcommand --help', () => {
  const main = run(['--help']);
  assert.equal(main.status, 0);
  for (const w of ['user add', 'user passwd', 'user key', 'user quota', 'user del', 'user list'])
    assert.match(main.stdout, new RegExp(w));
  assert.match(main.stdout, /hostkey/);
  assert.match(main.stdout, /--store URL/);
  assert.match(main.stdout, /JAILSFTP_STORE/);
  const cases: [string[], RegExp][] = [
    [['serve', '--help'], /usage: jailsftpd \[serve\]/],
    [['user', 'add', '--help'], /usage: jailsftpd user add NAME/],
    [['user', 'passwd', '--help'], /usage: jailsftpd user passwd NAME/],
    [['user', 'key', '--help'], /usage: jailsftpd user key add\|remove NAME KEY/],
    [['user', 'quota', '--help'], /usage: jailsftpd user quota NAME SIZE/],
    [['user', 'del', '--help'], /usage: jailsftpd user del NAME \[--purge\]/],
    [['user', 'list', '--help'], /usage: jailsftpd user list/],
    [['hostkey', '--help'], /usage: jailsftpd hostkey/],
    [['store', 'init', '--help'], /usage: jailsftpd store init --store/],
    [['store', 'import', '--help'], /usage: jailsftpd store import --store URL \[--users DIR\]/],
  ];
  for (const [args, re] of cases) {
    const r = run(args);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, re, args.join(' '));
  }
  const bad = run(['frobnicate']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown command "frobnicate"/);
});

test('user administration, host keys, and a running server sees every change', async (t) => {
  const srv = await useServer(t);

  await t.test('host keys: mode 0600, fingerprints equal ssh-keygen -lf', () => {
    const files = readdirSync(srv.keysDir).sort();
    assert.deepEqual(files, [
      'ssh_host_ed25519_key',
      'ssh_host_ed25519_key.pub',
      'ssh_host_rsa_key',
      'ssh_host_rsa_key.pub',
    ]);
    for (const f of files.filter((f) => !f.endsWith('.pub')))
      assert.equal(statSync(join(srv.keysDir, f)).mode & 0o777, 0o600, f);
    const ours = srv.cli(['hostkey', '--host-keys', srv.keysDir]);
    assert.equal(ours.status, 0, ours.stderr);
    const want = files
      .filter((f) => f.endsWith('.pub'))
      .map((f) => {
        const r = spawnSync('ssh-keygen', ['-lf', join(srv.keysDir, f)], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        return r.stdout.trim();
      });
    assert.deepEqual(ours.stdout.trim().split('\n').sort(), want.sort());
    // the server printed the same lines when it started
    for (const l of want) assert.ok(srv.output().includes(l), `server output lacks ${l}`);
  });

  await t.test('hostkey with no keys: clear error', () => {
    const empty = join(srv.dir, 'nokeys');
    mkdirSync(empty);
    const r = srv.cli(['hostkey', '--host-keys', empty]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no host keys in .*nokeys/);
  });

  const k1 = keyPair();
  const k2 = keyPair();
  const keyFile = join(srv.dir, 'k1.pub');
  writeFileSync(keyFile, k1.pub + '\n');

  await t.test('user add with password, key file, quota units, home', () => {
    const r = srv.cli(
      ['user', 'add', 'alice', '--password-stdin', '--key', keyFile, '--quota', '500M'],
      'alice-pw\n',
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /user alice added \(quota 500 MiB, 1 key\(s\)/);
    const rec = record(srv, 'alice');
    assert.equal(rec.quota, 500 * 1024 * 1024);
    // PHC string: $argon2id$v=19$<m,t,p in any order>$salt$hash
    assert.match(
      String(rec.password),
      /^\$argon2id\$v=19\$(?=[^$]*\bm=\d+)(?=[^$]*\bt=\d+)(?=[^$]*\bp=\d+)[mtp=\d,]+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/,
    );
    assert.ok(!JSON.stringify(rec).includes('alice-pw'), 'password in clear');
    assert.deepEqual(rec.keys, [k1.pub.trim().split(' ').slice(0, 3).join(' ')]);
    assert.equal(statSync(join(srv.usersDir, 'alice.json')).mode & 0o777, 0o600);

    const b = srv.cli([
      'user',
      'add',
      'bob',
      '--key',
      k2.pub,
      '--quota',
      '2GiB',
      '--home',
      'shared/b',
    ]);
    assert.equal(b.status, 0, b.stderr);
    const rb = record(srv, 'bob');
    assert.equal(rb.quota, 2 * 1024 ** 3);
    assert.equal(rb.password, undefined);
    assert.equal(rb.home, 'shared/b');
    assert.match(b.stdout, new RegExp(`home ${join(srv.homesDir, 'shared/b')}`));

    const c = srv.cli(['user', 'add', 'carol', '--password-stdin', '--quota', '0'], 'c\n');
    assert.equal(c.status, 0, c.stderr);
    assert.equal(record(srv, 'carol').quota, 0);
    assert.match(c.stdout, /quota unlimited/);
  });

  await t.test('bad sizes, names, keys and duplicates: clear error, exit 2', () => {
    const cases: [string[], string, RegExp][] = [
      [['user', 'add', 'd1', '--password-stdin', '--quota', '12X'], 'x\n', /invalid size "12X"/],
      [['user', 'add', 'd1', '--password-stdin', '--quota', '-5'], 'x\n', /invalid size|option/],
      [['user', 'add', 'd1', '--password-stdin', '--quota', 'lots'], 'x\n', /invalid size "lots"/],
      [['user', 'add', '../evil', '--password-stdin'], 'x\n', /invalid user name "\.\.\/evil"/],
      [['user', 'add', 'a b', '--password-stdin'], 'x\n', /invalid user name/],
      [['user', 'add', 'x'.repeat(40), '--password-stdin'], 'x\n', /invalid user name/],
      [['user', 'add', 'alice', '--password-stdin'], 'x\n', /user alice exists/],
      [['user', 'add', 'd2', '--password-stdin'], '', /empty password on stdin/],
      [['user', 'add', 'd3'], '', /needs a password .* or a key/],
      [['user', 'add', 'd4', '--key', 'ssh-ed25519 AAAAnotakey'], '', /not an OpenSSH public key/],
      [['user', 'quota', 'alice', '5 parsecs'], '', /invalid size "5 parsecs"/],
      [['user', 'quota', 'nobody', '1M'], '', /no such user: nobody/],
      [['user', 'passwd', 'nobody', '--password-stdin'], 'x\n', /no such user: nobody/],
      [['user', 'del', 'nobody'], '', /no such user: nobody/],
      [['user', 'key', 'add', 'alice', k1.pub], '', /key already present/],
      [['user', 'key', 'remove', 'alice', k2.pub], '', /no such key for this user/],
      [['user', 'key', 'frob', 'alice', k2.pub], '', /usage: jailsftpd user key/],
      [['user', 'add', 'd5', '--bogus'], '', /Unknown option '--bogus'/],
    ];
    for (const [args, input, re] of cases) {
      const r = srv.cli(args, input);
      assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status} ${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
      assert.match(r.stderr, /^jailsftpd: /);
    }
    for (const n of ['d1', 'd2', 'd3', 'd4', 'd5'])
      assert.ok(!existsSync(join(srv.usersDir, `${n}.json`)), n);
  });

  await t.test('the running server sees a new user, password, key and quota', async () => {
    // new user (created above, after the server started)
    assert.equal(await tryLogin(srv, 'alice', { password: 'alice-pw' }), 'ok');
    assert.equal(await tryLogin(srv, 'alice', { privateKey: k1.priv }), 'ok');
    assert.equal(await tryLogin(srv, 'bob', { privateKey: k2.priv }), 'ok');
    assert.ok(existsSync(join(srv.homesDir, 'shared/b')), 'home made on demand');
    // new password: the old one stops working at once
    const p = srv.cli(['user', 'passwd', 'alice', '--password-stdin'], 'alice-new\n');
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /password of alice changed/);
    assert.match(await tryLogin(srv, 'alice', { password: 'alice-pw' }), /authentication/i);
    assert.equal(await tryLogin(srv, 'alice', { password: 'alice-new' }), 'ok');
    // new key (as a line), then removed (as a file)
    assert.match(await tryLogin(srv, 'alice', { privateKey: k2.priv }), /authentication/i);
    const ka = srv.cli(['user', 'key', 'add', 'alice', k2.pub]);
    assert.equal(ka.status, 0, ka.stderr);
    assert.match(ka.stdout, /key added to alice \(2 key\(s\)\)/);
    assert.equal(await tryLogin(srv, 'alice', { privateKey: k2.priv }), 'ok');
    const kr = srv.cli(['user', 'key', 'remove', 'alice', keyFile]);
    assert.equal(kr.status, 0, kr.stderr);
    assert.match(kr.stdout, /key removed from alice \(1 key\(s\)\)/);
    assert.match(await tryLogin(srv, 'alice', { privateKey: k1.priv }), /authentication/i);
    // new quota: a 2000-byte upload fails under a 1000-byte quota, passes under 1M
    const q = srv.cli(['user', 'quota', 'carol', '1000']);
    assert.equal(q.status, 0, q.stderr);
    assert.match(q.stdout, /quota of carol: 1000 B/);
    const c = new SftpClient();
    await c.connect({ host: srv.host, port: srv.port, username: 'carol', password: 'c' });
    // (ssh2-sftp-client's put() of a Buffer resolves even when the WRITE fails: ssh2's write stream
    // closes before it reports the error, so the raw WRITE is used to see the server's answer)
    assert.equal(
      await rawWrite(c, '/big.bin', Buffer.alloc(2000, 1)),
      'quota exceeded: 1000 B free',
    );
    await c.end();
    const q2 = srv.cli(['user', 'quota', 'carol', '1M']);
    assert.equal(q2.status, 0);
    const c2 = new SftpClient();
    await c2.connect({ host: srv.host, port: srv.port, username: 'carol', password: 'c' });
    assert.equal(await rawWrite(c2, '/big.bin', Buffer.alloc(2000, 1)), 'ok');
    await c2.end();
    assert.equal(statSync(join(srv.homesDir, 'carol/big.bin')).size, 2000);
  });

  await t.test('user list shows name, quota, used, keys', () => {
    const r = srv.cli(['user', 'list']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^NAME\s+QUOTA\s+USED\s+KEYS$/);
    const row = (n: string): string[] => lines.find((l) => l.startsWith(n + ' '))!.split(/\s{2,}/);
    assert.deepEqual(row('alice'), ['alice', '500 MiB', '0 B', '1']);
    assert.deepEqual(row('bob'), ['bob', '2 GiB', '0 B', '1']);
    assert.deepEqual(row('carol'), ['carol', '1 MiB', '2.0 KiB', '0']);
  });

  await t.test('user list --json: every field, sizes in bytes (file store)', () => {
    assert.equal(srv.cli(['user', 'set', 'bob', '--upload-rate', '3M']).status, 0);
    const r = srv.cli(['user', 'list', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const user = (name: string, over: Record<string, unknown>): Record<string, unknown> => ({
      name,
      quota: 0,
      used: 0,
      keys: 1,
      password: false,
      home: join(srv.homesDir, name),
      disabled: false,
      expires: null,
      totp: false,
      uploadRate: null,
      downloadRate: null,
      ...over,
    });
    assert.deepEqual(JSON.parse(r.stdout), [
      user('alice', { quota: 500 * 1024 * 1024, password: true }),
      user('bob', {
        quota: 2 * 1024 ** 3,
        home: join(srv.homesDir, 'shared/b'),
        uploadRate: 3 << 20,
      }),
      user('carol', { quota: 1024 * 1024, used: 2000, keys: 0, password: true }),
    ]);
  });

  await t.test('user del keeps the home; --purge removes it; login stops', async () => {
    const d = srv.cli(['user', 'del', 'carol']);
    assert.equal(d.status, 0, d.stderr);
    assert.match(d.stdout, /user carol deleted$/m);
    assert.ok(existsSync(join(srv.homesDir, 'carol/big.bin')));
    assert.ok(!existsSync(join(srv.usersDir, 'carol.json')));
    assert.match(await tryLogin(srv, 'carol', { password: 'c' }), /authentication/i);
    const p = srv.cli(['user', 'del', 'bob', '--purge']);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /user bob deleted with its home/);
    assert.ok(!existsSync(join(srv.homesDir, 'shared/b')));
    const l = srv.cli(['user', 'list']);
    assert.deepEqual(
      l.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((x) => x.split(/\s+/)[0]),
      ['alice'],
    );
  });
});

test('size units', (t) => {
  // via the real CLI, in a scratch users directory
  const dir = fixture(t).tempDir('jailsftp-cli-size-');
  const cases: [string, number][] = [
    ['0', 0],
    ['12345', 12345],
    ['500M', 500 * 1024 ** 2],
    ['2GiB', 2 * 1024 ** 3],
    ['1.5G', 1.5 * 1024 ** 3],
    ['10k', 10240],
    ['3MB', 3_000_000],
  ];
  for (const [text, bytes] of cases) {
    const name = `u${bytes}`;
    const r = run(
      ['user', 'add', name, '--password-stdin', '--quota', text, '--users', dir, '--homes', dir],
      'pw\n',
    );
    assert.equal(r.status, 0, r.stderr);
    const rec = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as { quota: number };
    assert.equal(rec.quota, bytes, text);
  }
});

test('every way of starting serve gives node its options (bin/node-flags.cjs), or says so', (t) => {
  const dir = fixture(t).tempDir();
  // a config typo: the server stops with status 2 right after the entry's own checks
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ lisen: '127.0.0.1:22' }));
  const args = ['serve', '--config', config];
  // the jailsftpd command as npm's bin link runs it: its shebang line
  const direct = spawnSync(SERVER_ENTRY, args, { encoding: 'utf8', timeout: 20000 });
  assert.equal(direct.status, 2, direct.stderr);
  assert.doesNotMatch(direct.stderr, /node runs without/);
  assert.match(direct.stderr, /unknown config key "lisen"/);
  // plain `node bin/jailsftpd.cjs serve` runs, and names what is missing
  const plain = spawnSync(process.execPath, [SERVER_ENTRY, ...args], { encoding: 'utf8' });
  assert.equal(plain.status, 2, plain.stderr);
  assert.match(plain.stderr, /jailsftpd: node runs without --single-threaded-gc: large transfers/);
  // npm start and the systemd unit pass the same options
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const unit = readFileSync(join(ROOT, 'deploy/jailsftpd.service'), 'utf8');
  const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? '';
  assert.ok(SERVER_NODE_FLAGS.length > 0);
  for (const f of SERVER_NODE_FLAGS) {
    assert.match(pkg.scripts.start!, new RegExp(`node ${f} bin/jailsftpd\\.cjs serve`));
    assert.match(execStart, new RegExp(`node ${f} /`));
  }
});

// The ftp> client against the real jailsftp server: every command with its messages and exit codes,
// batch mode, host keys.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { fixture } from './helpers/fixture.js';
import type { TestServer, TestUser } from './helpers/server.js';
import { runClient, scratchHome, type RunResult } from './helpers/jailsftp.js';
import { randomFile, sha256File } from './helpers/files.js';

const fx = fixture();
let srv: TestServer;
let alice: TestUser;
let home: string;

function client(user: TestUser, args: string[], extra: { input?: string; cwd?: string } = {}) {
  return runClient(
    ['-P', String(srv.port), '-i', user.keyFile!, '--yes', ...args, `${user.name}@127.0.0.1`],
    {
      home,
      ...extra,
    },
  );
}

function lines(r: RunResult): string[] {
  return r.stdout.split('\n').filter(Boolean);
}

before(async () => {
  srv = await fx.server();
  alice = srv.addUser('alice', { key: true });
  home = scratchHome(fx);
});

describe('client commands (batch)', () => {
  test('login, put, ls, get, rename, rm, mkdir, rmdir, pwd, cd with their messages', async () => {
    const src = join(home, 'one.bin');
    const sum = randomFile(src, 3 * 1024 * 1024 + 17);
    const r = await client(
      alice,
      [
        '-c',
        'pwd; ls; mkdir d; cd d; pwd; put one.bin; ls; ls -l; get one.bin back.bin; rename one.bin two.bin; ls; cd /; dir d; rm d/two.bin; rmdir d; ls',
      ],
      { cwd: home },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = lines(r);
    assert.equal(out[0], 'server 127.0.0.1 connected');
    assert.equal(out[1], 'Login successful!');
    const after = (cmd: string): string | undefined => out[out.indexOf(`ftp> ${cmd}`) + 1];
    assert.equal(after('pwd'), '/');
    assert.equal(after('ls'), 'Command return empty!');
    assert.equal(after('cd d'), '/d');
    assert.match(
      after('put one.bin')!,
      /^one\.bin -> \/d\/one\.bin: 3\.0 MiB in .*, sha256 verified$/,
    );
    assert.match(after('ls -l')!, /^-rw-r--r-- +3145745 \w{3} [ \d]\d \d\d:\d\d one\.bin$/);
    assert.match(
      after('get one.bin back.bin')!,
      /^\/d\/one\.bin -> .*back\.bin: .*sha256 verified$/,
    );
    assert.equal(after('rename one.bin two.bin'), 'ftp> ls');
    assert.equal(out[out.indexOf('ftp> rename one.bin two.bin') + 2], 'two.bin');
    assert.match(after('dir d')!, /two\.bin$/);
    assert.equal(out[out.length - 1], 'Command return empty!');
    assert.equal(sha256File(join(home, 'back.bin')), sum);
    assert.equal(existsSync(join(alice.home, 'd')), false);
  });

  test('bytes on the server are the bytes sent', async () => {
    const src = join(home, 'disk.bin');
    const sum = randomFile(src, 1024 * 1024 + 3);
    const r = await client(alice, ['-c', `put ${src} /disk.bin`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(sha256File(join(alice.home, 'disk.bin')), sum);
    const r2 = await client(alice, ['-c', 'rm disk.bin']);
    assert.equal(r2.status, 0, r2.stderr);
    assert.equal(existsSync(join(alice.home, 'disk.bin')), false);
  });

  test('cd above the home prints Permission denied! and stops the batch', async () => {
    const r = await client(alice, ['-c', 'cd ..; pwd']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^Permission denied!$/m);
    assert.doesNotMatch(r.stdout, /ftp> pwd/);
    const r2 = await client(alice, ['-c', '-cd ../..; pwd']);
    assert.equal(r2.status, 0, r2.stderr);
    assert.match(r2.stdout, /ftp> pwd\n\/\n/);
  });

  test('errors are short, name the path, and fail the batch', async () => {
    const r = await client(alice, ['-c', 'get nope.bin']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').pop(), 'get: /nope.bin: No such file or directory');
    assert.doesNotMatch(r.stderr, /at .*\.js/);
    const r2 = await client(alice, ['-c', 'frobnicate']);
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /unknown command frobnicate/);
    const r3 = await client(alice, ['-c', 'put /definitely/missing']);
    assert.equal(r3.status, 1);
    assert.match(r3.stderr, /put: \/definitely\/missing: (No such file or directory|no match)/);
    const r4 = await client(alice, ['-c', 'mkdir x; mkdir x']);
    assert.equal(r4.status, 1);
    assert.match(r4.stderr, /mkdir: \/x: File exists/);
    const r5 = await client(alice, ['-c', 'rmdir x; rmdir x']);
    assert.equal(r5.status, 1);
    assert.match(r5.stderr, /rmdir: \/x: No such file or directory/);
  });

  test('-b file: echo, comments, a leading - ignores a failure, first failure stops', async () => {
    const batch = join(home, 'batch.txt');
    writeFileSync(
      batch,
      '# comment\n-rm not-there\nmkdir bdir\n\ncd bdir\npwd\nrm not-there-either\npwd\n',
    );
    const r = await client(alice, ['-b', batch]);
    assert.equal(r.status, 1);
    assert.deepEqual(lines(r).slice(2), [
      'ftp> rm not-there',
      'ftp> mkdir bdir',
      'ftp> cd bdir',
      '/bdir',
      'ftp> pwd',
      '/bdir',
      'ftp> rm not-there-either',
    ]);
    assert.ok(statSync(join(alice.home, 'bdir')).isDirectory());
  });

  test('commands from a pipe run as a batch', async () => {
    const r = await client(alice, [], { input: 'cd bdir\npwd\nquit\nls\n' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(lines(r).slice(2), [
      'ftp> cd bdir',
      '/bdir',
      'ftp> pwd',
      '/bdir',
      'ftp> quit',
    ]);
  });

  test('mput and mget with globs, put -r and get -r of trees', async () => {
    const dir = join(home, 'globs');
    mkdirSync(join(dir, 'tree/sub'), { recursive: true });
    const sums: Record<string, string> = {};
    for (const n of ['a1.txt', 'a2.txt', 'b.dat'])
      sums[n] = randomFile(join(dir, n), 1000 + n.length);
    sums['tree/x'] = randomFile(join(dir, 'tree/x'), 5000);
    sums['tree/sub/y'] = randomFile(join(dir, 'tree/sub/y'), 70000);
    const r = await client(
      alice,
      [
        '-c',
        'mkdir g; cd g; mput a*.txt; put -r tree; ls; ls tree/sub; lcd out; mget a?.txt; get -r tree; lpwd; lls',
      ],
      { cwd: dir },
    );
    assert.equal(r.status, 1, 'lcd to a missing directory fails');
    assert.match(r.stderr, /lcd: out: No such file or directory/);
    mkdirSync(join(dir, 'out'));
    const r2 = await client(
      alice,
      ['-c', 'cd g; ls; lcd out; mget a?.txt; get -r tree; lpwd; lls'],
      { cwd: dir },
    );
    assert.equal(r2.status, 0, r2.stderr);
    const out = lines(r2);
    assert.deepEqual(out.slice(out.indexOf('ftp> ls') + 1, out.indexOf('ftp> lcd out')), [
      'a1.txt',
      'a2.txt',
      'tree',
    ]);
    assert.equal(out[out.indexOf('ftp> lpwd') + 1], join(dir, 'out'));
    assert.deepEqual(out.slice(out.indexOf('ftp> lls') + 1), ['a1.txt', 'a2.txt', 'tree']);
    for (const n of ['a1.txt', 'a2.txt', 'tree/x', 'tree/sub/y']) {
      assert.equal(sha256File(join(alice.home, 'g', n)), sums[n], n);
      assert.equal(sha256File(join(dir, 'out', n)), sums[n], n);
    }
    assert.equal(existsSync(join(alice.home, 'g', 'b.dat')), false);
    const r3 = await client(alice, ['-c', 'mget zz*']);
    assert.equal(r3.status, 1);
    assert.match(r3.stderr, /mget: zz\*: no match/);
  });

  test('chmod, df, help, version, !command', async () => {
    writeFileSync(join(home, 'm.txt'), 'mode\n');
    const r = await client(
      alice,
      [
        '-c',
        'put m.txt; chmod 600 m.txt; ls -l m.txt; df; help put; version; !echo local-shell-ran',
      ],
      {
        cwd: home,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statSync(join(alice.home, 'm.txt')).mode & 0o777, 0o600);
    assert.match(r.stdout, /^-rw------- +5 .* m\.txt$/m);
    assert.match(r.stdout, /^ +Size +Used +Avail +Use%$/m);
    assert.match(r.stdout, /^put \[-r\] LOCAL \[REMOTE\]\n {2}upload/m);
    assert.match(r.stdout, /^jailsftp \d+\.\d+\.\d+, SFTP protocol version 3$/m);
    assert.match(r.stdout, /server extensions: .*statvfs@openssh\.com/);
    assert.match(r.stdout, /^local-shell-ran$/m);
    const r2 = await client(alice, ['-c', 'chmod 9x m.txt']);
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /chmod: invalid mode 9x/);
    const r3 = await client(alice, ['-c', '!exit 3']);
    assert.equal(r3.status, 1);
    assert.match(r3.stderr, /exited with status 3/);
  });

  test('an upload the quota cannot hold prints not enough quota! with the free space', async () => {
    const bob = srv.addUser('bob', { key: true, quota: '1M' });
    const big = join(home, 'big-for-quota.bin');
    randomFile(big, 1536 * 1024);
    const small = join(home, 'small-for-quota.bin');
    randomFile(small, 256 * 1024);
    const r = await client(bob, ['-c', `put ${small}; df; put ${big}; ls`]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^not enough quota! 768 KiB free, 1\.5 MiB needed$/m);
    assert.match(r.stdout, /^ +1\.0 MiB +256 KiB +768 KiB +25%$/m);
    assert.equal(existsSync(join(bob.home, 'big-for-quota.bin')), false);
  });

  test('usage, --help and --version', async () => {
    const h = await runClient(['--help'], { home });
    assert.equal(h.status, 0);
    assert.match(h.stdout, /^usage: jailsftp \[-P PORT\]/);
    const v = await runClient(['--version'], { home });
    assert.equal(v.status, 0);
    assert.match(v.stdout, /^jailsftp \d+\.\d+\.\d+\n$/);
    const u = await runClient([], { home });
    assert.equal(u.status, 2);
    const b = await runClient(['--bogus', 'x'], { home });
    assert.equal(b.status, 2);
    assert.match(b.stderr, /Unknown option '--bogus'/);
  });
});

describe('client login and host keys', () => {
  test('an unknown host key is refused in batch mode without --yes, and trusted with it', async () => {
    const h = scratchHome();
    const args = ['-P', String(srv.port), '-i', alice.keyFile!, '-c', 'pwd', 'alice@127.0.0.1'];
    const r = await runClient(args, { home: h });
    assert.equal(r.status, 255);
    assert.match(r.stderr, /authenticity of host '\[127\.0\.0\.1\]:\d+' can't be established/);
    assert.match(r.stderr, /ED25519 key fingerprint is SHA256:[A-Za-z0-9+/]{43}\./);
    assert.match(r.stderr, /Host key verification failed: unknown host/);
    const kh = join(h, '.jailsftp/known_hosts');
    assert.equal(existsSync(kh), false);
    const r2 = await runClient(['--yes', ...args], { home: h });
    assert.equal(r2.status, 0, r2.stderr);
    assert.match(r2.stderr, /Permanently added '\[127\.0\.0\.1\]:\d+' \(ED25519\)/);
    assert.match(readFileSync(kh, 'utf8'), /^\[127\.0\.0\.1\]:\d+ ssh-ed25519 AAAA\S+\n$/);
    // now known: no --yes needed, nothing added
    const r3 = await runClient(args, { home: h });
    assert.equal(r3.status, 0, r3.stderr);
    assert.doesNotMatch(r3.stderr, /Permanently added/);
    assert.equal(readFileSync(kh, 'utf8').split('\n').filter(Boolean).length, 1);
  });

  test('a changed host key is refused loudly, even with --yes', async () => {
    const h = scratchHome();
    const kh = join(h, '.jailsftp/known_hosts');
    mkdirSync(join(h, '.jailsftp'));
    // a different ed25519 key for the same host and port
    const other = 'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
    writeFileSync(kh, `[127.0.0.1]:${srv.port} ssh-ed25519 ${other}\n`);
    const r = await runClient(
      ['--yes', '-P', String(srv.port), '-i', alice.keyFile!, '-c', 'pwd', 'alice@127.0.0.1'],
      { home: h },
    );
    assert.equal(r.status, 255);
    assert.match(r.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
    assert.match(r.stderr, /known_hosts:1/);
    assert.doesNotMatch(r.stdout, /Login successful/);
    assert.equal(readFileSync(kh, 'utf8'), `[127.0.0.1]:${srv.port} ssh-ed25519 ${other}\n`);
  });

  test('a wrong key prints Login failed!; a password from JAILSFTP_PASSWORD works', async () => {
    const r = await runClient(
      [
        '--yes',
        '-P',
        String(srv.port),
        '-i',
        srv.addUser('carol', { key: true }).keyFile!,
        '-c',
        'pwd',
        'alice@127.0.0.1',
      ],
      { home },
    );
    assert.equal(r.status, 255);
    assert.match(r.stderr, /^Login failed!$/m);
    const r2 = await runClient(['--yes', '-P', String(srv.port), '-c', 'pwd', 'alice@127.0.0.1'], {
      home,
      env: { JAILSFTP_PASSWORD: alice.password },
    });
    assert.equal(r2.status, 0, r2.stderr);
    assert.match(r2.stdout, /Login successful!\nftp> pwd\n\/\n/);
  });

  test('connection refused is a short message and status 255', async () => {
    const r = await runClient(['--yes', '-P', '1', '-c', 'pwd', 'x@127.0.0.1'], { home });
    assert.equal(r.status, 255);
    assert.match(r.stderr, /cannot connect to 127\.0\.0\.1 port 1: Connection refused/);
  });
});

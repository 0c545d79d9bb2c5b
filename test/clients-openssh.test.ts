// OpenSSH sftp -b against the real server, with a key and with a password (sshpass): the core
// operations on files from 0 B to 256 MiB (sha256 of the bytes on disk), df, and the jail.
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { useServer } from './helpers/fixture.js';
import type { TestServer, TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import { sftpBatch, sftpPassword } from './helpers/clients.js';
import { randomFile, sha256File, SIZES } from './helpers/files.js';
import type { Run } from './helpers/run.js';

/** sftp with the key only. */
function sftpKey(srv: TestServer, u: TestUser, batch: string): Promise<Run> {
  return sftpBatch(srv, u, batch, {
    extra: ['-o', 'PreferredAuthentications=publickey'],
    timeoutMs: 120_000,
  });
}

/** sftp with the password only (sshpass). */
function sftpPw(srv: TestServer, u: TestUser, batch: string): Promise<Run> {
  return sftpPassword(srv, u, batch, { timeoutMs: 120_000 });
}

const LARGE = 256 * 1024 * 1024;

test('OpenSSH sftp', { skip: needs('sftp', 'sshpass') }, async (t) => {
  const srv = await useServer(t);
  const local = join(srv.dir, 'local');
  mkdirSync(local);
  const files = new Map<string, string>();
  for (const [name, size] of SIZES) files.set(name, randomFile(join(local, name), size));
  const keyUser = srv.addUser('kate', { key: true, quota: '1GiB' });
  const pwUser = srv.addUser('paul', { password: 'paul pass wörd' });

  for (const [label, u, run] of [
    ['key', keyUser, sftpKey],
    ['password', pwUser, sftpPw],
  ] as const) {
    await t.test(`${label}: mkdir, cd, put, ls, get, rename, rm, rmdir of 0 B..5 MiB`, async () => {
      const back = join(srv.dir, `back-${label}`);
      mkdirSync(back);
      const names = SIZES.map(([n]) => n);
      const batch = [
        'mkdir dir',
        'cd dir',
        'pwd',
        ...names.map((n) => `put ${join(local, n)} ${n}`),
        'ls -l',
        ...names.map((n) => `get ${n} ${join(back, n)}`),
        ...names.map((n) => `rename ${n} ${n}.moved`),
        'ls -1',
      ].join('\n');
      const r = await run(srv, u, batch + '\n');
      assert.equal(r.status, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /Remote working directory: \/dir\n/);
      for (const [n, size] of SIZES) {
        // sizes on the listing, bytes on the server's disk, bytes fetched back
        assert.match(r.stdout, new RegExp(`\\s${size}\\s+\\w{3}\\s+\\d+\\s+[\\d:]+\\s+${n}\\n`));
        const want = files.get(n)!;
        assert.equal(sha256File(join(u.home, 'dir', `${n}.moved`)), want, `${n} on disk`);
        assert.equal(sha256File(join(back, n)), want, `${n} fetched`);
      }
      assert.deepEqual(
        readdirSync(join(u.home, 'dir')).sort(),
        names.map((n) => `${n}.moved`).sort(),
      );
      const lsNames = r.stdout.split('sftp> ls -1\n')[1]!.trim().split(/\s+/).sort();
      assert.deepEqual(lsNames, names.map((n) => `${n}.moved`).sort());

      // rmdir of a full directory fails; rm everything, then rmdir works
      const full = await run(srv, u, 'rmdir dir\n');
      assert.equal(full.status, 1);
      assert.match(full.stderr, /Failure|not empty/i);
      const clean = await run(
        srv,
        u,
        [...names.map((n) => `rm dir/${n}.moved`), 'rmdir dir', 'ls -1a /'].join('\n') + '\n',
      );
      assert.equal(clean.status, 0, clean.stderr);
      assert.ok(!existsSync(join(u.home, 'dir')));
    });

    await t.test(`${label}: missing files give OpenSSH's usual messages`, async () => {
      const g = await run(srv, u, `get nope ${join(srv.dir, 'nope')}\n`);
      assert.equal(g.status, 1);
      assert.match(g.stderr, /File "\/nope" not found/);
      const rm = await run(srv, u, 'rm nope\n');
      assert.equal(rm.status, 1);
      assert.match(rm.stderr, /No such file or directory/);
      const cd = await run(srv, u, 'cd nope\n');
      assert.equal(cd.status, 1);
      assert.match(cd.stderr, /No such file or directory/);
    });
  }

  await t.test(`key: ${LARGE >> 20} MiB put and get, sha256 equal`, async () => {
    const src = join(local, 'large');
    const want = randomFile(src, LARGE);
    const back = join(srv.dir, 'large.back');
    const r = await sftpKey(srv, keyUser, `put ${src} large\nget large ${back}\n`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(sha256File(join(keyUser.home, 'large')), want);
    assert.equal(sha256File(back), want);
    const rm = await sftpKey(srv, keyUser, 'rm large\n');
    assert.equal(rm.status, 0, rm.stderr);
  });

  await t.test('df shows the quota as the disk size', async () => {
    writeFileSync(join(keyUser.home, 'used'), Buffer.alloc(3 * 1024 * 1024));
    const r = await sftpKey(srv, keyUser, 'df\n');
    assert.equal(r.status, 0, r.stderr);
    // "        Size         Used        Avail       (root)    %Capacity"
    const line = r.stdout.trim().split('\n').at(-1)!.trim().split(/\s+/);
    const [size, used, avail] = line.map(Number);
    assert.equal(size, 1024 * 1024, r.stdout); // KiB
    assert.ok(used! >= 3 * 1024 && used! < 3 * 1024 + 64, `used ${used}`);
    assert.equal(avail, size! - used!);
  });

  await t.test('the jail holds: cd .., ls /.., get ../../etc/passwd', async () => {
    writeFileSync(join(keyUser.home, 'mine'), 'x');
    const r = await sftpKey(
      srv,
      keyUser,
      'cd ..\npwd\ncd /../..\npwd\nls -1 /..\nls -1 ../../..\n',
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.match(/Remote working directory: \/\n/g)?.length, 2, r.stdout);
    // both listings show the home, nothing of the server's disk
    assert.match(r.stdout, /^\/\.\.\/mine$/m);
    assert.match(r.stdout, /^\.\.\/\.\.\/\.\.\/mine$/m);
    assert.doesNotMatch(r.stdout, /\b(etc|usr|paul|kate)\b/);

    const messageOf = async (path: string): Promise<Run> =>
      sftpKey(srv, keyUser, `get ${path} ${join(srv.dir, 'stolen')}\n`);
    const passwd = await messageOf('../../etc/passwd');
    const missing = await messageOf('../../etc/no-such-file-here');
    assert.equal(passwd.status, 1);
    assert.equal(missing.status, 1);
    assert.equal(
      passwd.stderr.replace('passwd', 'X'),
      missing.stderr.replace('no-such-file-here', 'X'),
    );
    assert.match(passwd.stderr, /File "\/\.\.\/\.\.\/etc\/passwd" not found/);
    assert.ok(!existsSync(join(srv.dir, 'stolen')));
    // a symlink an administrator placed, leading out: answers like a missing file
    symlinkSync('/etc', join(keyUser.home, 'etc-link'));
    const viaLink = await messageOf('etc-link/passwd');
    const viaLinkMissing = await messageOf('etc-link/no-such-file-here');
    assert.equal(viaLink.status, 1);
    assert.equal(
      viaLink.stderr.replace('passwd', 'X'),
      viaLinkMissing.stderr.replace('no-such-file-here', 'X'),
    );
    assert.match(viaLink.stderr, /File "\/etc-link\/passwd" not found/);
    assert.ok(!existsSync(join(srv.dir, 'stolen')));
    // another user's home, by absolute path through the parent
    const other = await sftpKey(srv, keyUser, `ls /../paul\n`);
    assert.equal(other.status, 1);
    assert.match(other.stderr, /"\/\.\.\/paul" not found/);
  });
});

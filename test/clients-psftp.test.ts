// PuTTY psftp (the SSH core of WinSCP) in batch mode, host key pinned with -hostkey: password
// (keyboard-interactive) and a key converted by puttygen; the core operations, sha256 checked.
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import { clientSetup, psftp as psftpRun } from './helpers/clients.js';
import { sha256, SIZES } from './helpers/files.js';
import { run, type Run } from './helpers/run.js';

test('PuTTY psftp', { skip: needs('psftp') }, async (t) => {
  const { srv, local, data, pwUser, keyUser } = await clientSetup(
    t,
    { name: 'pat', password: 'pat-secret' },
    'kim',
  );
  const hk = srv.cli(['hostkey', '--host-keys', srv.keysDir]);
  assert.equal(hk.status, 0, hk.stderr);
  const hostkeys = hk.stdout
    .trim()
    .split('\n')
    .map((l) => l.split(' ')[1]!);
  const ppk = join(srv.dir, 'kim.ppk');
  const conv = await run('puttygen', [keyUser.keyFile!, '-O', 'private', '-o', ppk]);
  assert.equal(conv.status, 0, conv.stderr);
  const pwFile = join(srv.dir, 'pat.pw');
  writeFileSync(pwFile, pwUser.password, { mode: 0o600 });

  const psftp = (u: TestUser, batch: string): Promise<Run> =>
    psftpRun(srv, u, batch, {
      hostKeys: hostkeys,
      auth: u === keyUser ? ['-i', ppk] : ['-pwfile', pwFile],
    });

  for (const u of [pwUser, keyUser]) {
    await t.test(`${u === keyUser ? 'key' : 'password'}: core operations, sha256`, async () => {
      const back = join(srv.dir, `back-${u.name}`);
      mkdirSync(back);
      const names = SIZES.map(([n]) => n);
      const r = await psftp(
        u,
        [
          'mkdir d',
          'cd d',
          'pwd',
          ...names.map((n) => `put ${join(local, n)} ${n}`),
          'ls',
          ...names.map((n) => `get ${n} ${join(back, n)}`),
          ...names.map((n) => `mv ${n} ${n}.moved`),
          'ls',
        ].join('\n') + '\n',
      );
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Remote directory is now \/d/);
      assert.match(r.stdout, /Remote directory is \/d/);
      for (const n of names) {
        const want = sha256(data.get(n)!);
        assert.equal(sha256(readFileSync(join(u.home, 'd', `${n}.moved`))), want, n);
        assert.equal(sha256(readFileSync(join(back, n))), want, n);
        assert.match(r.stdout, new RegExp(` ${n}\\.moved\\r?\\n`));
      }
      const cleanup = await psftp(
        u,
        [...names.map((n) => `rm d/${n}.moved`), 'rmdir d', 'ls'].join('\n') + '\n',
      );
      assert.equal(cleanup.status, 0, cleanup.stdout + cleanup.stderr);
      assert.ok(!existsSync(join(u.home, 'd')));
      assert.deepEqual(readdirSync(u.home), []);
    });
  }

  await t.test('password login goes through keyboard-interactive', () => {
    assert.match(srv.output(), /login user=pat addr=\S+ method=keyboard-interactive/);
  });

  await t.test('errors: missing file, jail escape, non-empty rmdir', async () => {
    writeFileSync(join(keyUser.home, 'x'), 'x');
    mkdirSync(join(keyUser.home, 'full'));
    writeFileSync(join(keyUser.home, 'full', 'f'), 'f');
    const miss = await psftp(keyUser, `get nope ${join(srv.dir, 'nope')}\n`);
    assert.notEqual(miss.status, 0);
    assert.match(miss.stdout, /\/nope: open for read: no such file or directory/);
    // a path out of the jail answers exactly like a missing file
    const esc = await psftp(keyUser, `get ../../etc/passwd ${join(srv.dir, 'stolen')}\n`);
    const esc2 = await psftp(keyUser, `get ../../etc/no-such-file ${join(srv.dir, 'stolen')}\n`);
    assert.notEqual(esc.status, 0);
    assert.equal(esc.stdout.replace('passwd', 'X'), esc2.stdout.replace('no-such-file', 'X'));
    assert.match(esc.stdout, /passwd: open for read: no such file or directory/);
    assert.ok(!existsSync(join(srv.dir, 'stolen')));
    const up = await psftp(keyUser, 'cd ../..\npwd\nls\n');
    assert.equal(up.status, 0, up.stderr);
    assert.match(up.stdout, /Remote directory is \/\r?\n/);
    assert.match(up.stdout, / x\r?\n/);
    const rd = await psftp(keyUser, 'rmdir full\n');
    assert.notEqual(rd.status, 0);
    assert.match(rd.stdout + rd.stderr, /rmdir \/full: failure|not empty/i);
  });

  await t.test('a wrong host key is refused', async () => {
    const r = await psftpRun(srv, pwUser, '', {
      hostKeys: ['SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
      auth: ['-pwfile', pwFile],
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /host key/i);
  });
});

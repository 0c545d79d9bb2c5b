// lftp over sftp (it drives OpenSSH's ssh underneath): password and key, the core operations,
// sha256 of the bytes on disk, and the jail.
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import { clientSetup, lftp as lftpRun } from './helpers/clients.js';
import { sha256, SIZES } from './helpers/files.js';
import type { Run } from './helpers/run.js';

test('lftp', { skip: needs('lftp') }, async (t) => {
  const { srv, local, data, pwUser, keyUser } = await clientSetup(
    t,
    { name: 'lena', password: 'lena-secret' },
    'lars',
  );

  const lftp = (u: TestUser, commands: string[]): Promise<Run> => lftpRun(srv, u, commands);

  for (const u of [pwUser, keyUser]) {
    await t.test(`${u.keyFile ? 'key' : 'password'}: core operations, sha256`, async () => {
      const back = join(srv.dir, `back-${u.name}`);
      mkdirSync(back);
      const names = SIZES.map(([n]) => n);
      const r = await lftp(u, [
        'mkdir d',
        'cd d',
        'pwd',
        ...names.map((n) => `put ${join(local, n)} -o ${n}`),
        'cls -1',
        ...names.map((n) => `get ${n} -o ${join(back, n)}`),
        ...names.map((n) => `mv ${n} ${n}.moved`),
        'cls -1 --sort=name',
      ]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^sftp:\/\/.*\/d$/m);
      const listed = r.stdout.split('\n').filter((l) => l.endsWith('.moved'));
      assert.deepEqual(listed, names.map((n) => `${n}.moved`).sort());
      for (const n of names) {
        const want = sha256(data.get(n)!);
        assert.equal(sha256(readFileSync(join(u.home, 'd', `${n}.moved`))), want, n);
        assert.equal(sha256(readFileSync(join(back, n))), want, n);
      }
      const clean = await lftp(u, [...names.map((n) => `rm d/${n}.moved`), 'rmdir d']);
      assert.equal(clean.status, 0, clean.stdout + clean.stderr);
      assert.ok(!existsSync(join(u.home, 'd')));
      assert.deepEqual(readdirSync(u.home), []);
    });
  }

  await t.test('errors and the jail', async () => {
    mkdirSync(keyUser.home, { recursive: true });
    writeFileSync(join(keyUser.home, 'mine'), 'm');
    const miss = await lftp(keyUser, [`get nope -o ${join(srv.dir, 'nope')}`]);
    assert.notEqual(miss.status, 0);
    assert.match(miss.stderr, /get: Access failed: No such file \(nope\)/);
    const esc = await lftp(keyUser, [`get ../../etc/passwd -o ${join(srv.dir, 'stolen')}`]);
    const esc2 = await lftp(keyUser, [`get ../../etc/nothing -o ${join(srv.dir, 'stolen')}`]);
    assert.notEqual(esc.status, 0);
    assert.equal(esc.stderr.replace('passwd', 'X'), esc2.stderr.replace('nothing', 'X'));
    assert.match(esc.stderr, /No such file/);
    assert.ok(!existsSync(join(srv.dir, 'stolen')));
    const up = await lftp(keyUser, ['cd ../../..', 'cls -1 /..']);
    assert.equal(up.status, 0, up.stderr);
    assert.deepEqual(up.stdout.trim().split('\n'), ['/../mine']);
  });
});

// rclone's sftp backend (configured by flags only): copy, ls, lsjson, delete, mkdir/rmdir,
// with a password and with a key; sha256 of the bytes on disk; the jail.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import { clientSetup } from './helpers/clients.js';
import { sha256, SIZES } from './helpers/files.js';
import { run, type Run } from './helpers/run.js';

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

interface LsJson {
  Path: string;
  Name: string;
  Size: number;
  IsDir: boolean;
}

test('rclone sftp backend', { skip: needs('rclone') }, async (t) => {
  const { srv, local, data, pwUser, keyUser } = await clientSetup(
    t,
    { name: 'rita', password: 'rita-secret' },
    'rolf',
  );
  const obscured = spawnSync('rclone', ['obscure', pwUser.password], { encoding: 'utf8' });
  assert.equal(obscured.status, 0, obscured.stderr);

  const rclone = (u: TestUser, args: string[]): Promise<Run> =>
    run(
      'rclone',
      [
        ...args,
        '--sftp-host',
        srv.host,
        '--sftp-port',
        String(srv.port),
        '--sftp-user',
        u.name,
        ...(u.keyFile ? ['--sftp-key-file', u.keyFile] : ['--sftp-pass', obscured.stdout.trim()]),
        // on-the-fly remotes cannot save what rclone detects, so say it (our exec md5sum/sha1sum)
        ...['--sftp-shell-type', 'unix', '--sftp-md5sum-command', 'md5sum'],
        ...['--sftp-sha1sum-command', 'sha1sum'],
        '--retries',
        '1',
        '--low-level-retries',
        '1',
        '--contimeout',
        '10s',
      ],
      { env: { ...process.env, RCLONE_CONFIG: join(srv.dir, 'rclone.conf') }, timeoutMs: 120_000 },
    );

  for (const u of [pwUser, keyUser]) {
    await t.test(
      `${u.keyFile ? 'key' : 'password'}: copy, ls, lsjson, delete, mkdir, rmdir`,
      async () => {
        const mk = await rclone(u, ['mkdir', ':sftp:made']);
        assert.equal(mk.status, 0, mk.stderr);
        assert.ok(existsSync(join(u.home, 'made')));
        const up = await rclone(u, ['copy', local, ':sftp:up']);
        assert.equal(up.status, 0, up.stderr);
        for (const [n] of SIZES)
          assert.equal(sha256(readFileSync(join(u.home, 'up', n))), sha256(data.get(n)!), n);

        const ls = await rclone(u, ['ls', ':sftp:up']);
        assert.equal(ls.status, 0, ls.stderr);
        const rows = ls.stdout
          .trim()
          .split('\n')
          .map((l) => l.trim().split(/\s+/))
          .sort((a, b) => a[1]!.localeCompare(b[1]!));
        assert.deepEqual(
          rows,
          SIZES.map(([n, s]) => [String(s), n]).sort((a, b) => a[1]!.localeCompare(b[1]!)),
        );

        const lj = await rclone(u, ['lsjson', ':sftp:']);
        assert.equal(lj.status, 0, lj.stderr);
        const entries = (JSON.parse(lj.stdout) as LsJson[]).map((e) => [e.Name, e.IsDir]).sort();
        assert.deepEqual(entries, [
          ['made', true],
          ['up', true],
        ]);

        // md5 through the server's exec md5sum, as rclone checks transfers
        const sums = await rclone(u, ['md5sum', ':sftp:up']);
        assert.equal(sums.status, 0, sums.stderr);
        for (const [n] of SIZES)
          assert.match(sums.stdout, new RegExp(`^${md5(data.get(n)!)}  ${n}$`, 'm'));

        const back = join(srv.dir, `back-${u.name}`);
        const down = await rclone(u, ['copy', ':sftp:up', back]);
        assert.equal(down.status, 0, down.stderr);
        for (const [n] of SIZES)
          assert.equal(sha256(readFileSync(join(back, n))), sha256(data.get(n)!), n);

        const del = await rclone(u, ['delete', ':sftp:up']);
        assert.equal(del.status, 0, del.stderr);
        assert.deepEqual(readdirSync(join(u.home, 'up')), []);
        for (const d of ['up', 'made']) {
          const rd = await rclone(u, ['rmdir', `:sftp:${d}`]);
          assert.equal(rd.status, 0, rd.stderr);
        }
        assert.deepEqual(readdirSync(u.home), []);
      },
    );
  }

  await t.test('errors and the jail', async () => {
    writeFileSync(join(keyUser.home, 'mine'), 'm');
    const miss = await rclone(keyUser, ['cat', ':sftp:nope']);
    assert.notEqual(miss.status, 0);
    assert.match(miss.stderr, /not found/i);
    const esc = await rclone(keyUser, ['cat', ':sftp:../../etc/passwd']);
    assert.notEqual(esc.status, 0);
    assert.doesNotMatch(esc.stdout, /root:/);
    assert.match(esc.stderr, /not found/i);
    const up = await rclone(keyUser, ['lsjson', ':sftp:/../..']);
    assert.equal(up.status, 0, up.stderr);
    assert.deepEqual(
      (JSON.parse(up.stdout) as LsJson[]).map((e) => e.Name),
      ['mine'],
    );
    mkdirSync(join(keyUser.home, 'full'));
    writeFileSync(join(keyUser.home, 'full', 'f'), 'f');
    const rd = await rclone(keyUser, ['rmdir', ':sftp:full']);
    assert.notEqual(rd.status, 0);
    assert.ok(existsSync(join(keyUser.home, 'full', 'f')));
  });
});

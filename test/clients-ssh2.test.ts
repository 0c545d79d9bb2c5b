// ssh2-sftp-client (node scripts): put/get/list/rename/delete/mkdir/rmdir/stat/exists with a key and
// with a password; sha256 of the bytes on disk; the jail.
import test from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import SftpClient from 'ssh2-sftp-client';
import { useServer } from './helpers/fixture.js';
import { type TestServer, type TestUser } from './helpers/server.js';
import { sha256, SIZES } from './helpers/files.js';

async function connect(srv: TestServer, u: TestUser, how: 'key' | 'password'): Promise<SftpClient> {
  const c = new SftpClient();
  await c.connect({
    host: srv.host,
    port: srv.port,
    username: u.name,
    ...(how === 'key' ? { privateKey: u.privateKey } : { password: u.password }),
  });
  return c;
}

test('ssh2-sftp-client', async (t) => {
  const srv = await useServer(t);
  const u = srv.addUser('sam', { key: true, password: 'sam-secret' });
  const local = join(srv.dir, 'local');

  for (const how of ['key', 'password'] as const) {
    await t.test(`${how}: the core operations`, async () => {
      const c = await connect(srv, u, how);
      try {
        assert.equal(await c.cwd(), '/');
        assert.equal(await c.mkdir('/d'), '/d directory created');
        assert.equal(await c.exists('/d'), 'd');
        const data = new Map<string, Buffer>();
        for (const [n, size] of SIZES) {
          const b = randomBytes(size);
          data.set(n, b);
          // a file path (fastPut: parallel writes) and a Buffer (a write stream)
          if (size % 2 === 0) {
            writeFileSync(`${local}-${n}`, b);
            await c.fastPut(`${local}-${n}`, `/d/${n}`);
          } else await c.put(b, `/d/${n}`);
        }
        for (const [n, size] of SIZES) {
          const want = sha256(data.get(n)!);
          assert.equal(sha256(readFileSync(join(u.home, 'd', n))), want, `${n} on disk`);
          // (concat-stream hands back [] instead of a Buffer for an empty file)
          const g = (await c.get(`/d/${n}`)) as Buffer | [];
          const got = Buffer.isBuffer(g) ? g : Buffer.concat(g);
          assert.equal(sha256(got), want, `${n} get`);
          await c.fastGet(`/d/${n}`, `${local}-${n}.back`);
          assert.equal(sha256(readFileSync(`${local}-${n}.back`)), want, `${n} fastGet`);
          const st = await c.stat(`/d/${n}`);
          assert.equal(st.size, size);
          assert.equal(st.isFile, true);
        }
        const list = await c.list('/d');
        assert.deepEqual(
          list.map((e) => [e.name, e.size, e.type]).sort(),
          SIZES.map(([n, s]) => [n, s, '-']).sort(),
        );
        assert.equal(await c.rename('/d/one', '/d/uno'), 'Successfully renamed /d/one to /d/uno');
        assert.equal(await c.exists('/d/one'), false);
        assert.equal(await c.exists('/d/uno'), '-');
        assert.equal(sha256(readFileSync(join(u.home, 'd', 'uno'))), sha256(data.get('one')!));
        await assert.rejects(c.rmdir('/d'), /not empty|Failure/i);
        for (const e of await c.list('/d')) await c.delete(`/d/${e.name}`);
        assert.deepEqual(readdirSync(join(u.home, 'd')), []);
        await c.rmdir('/d');
        assert.equal(existsSync(join(u.home, 'd')), false);
        assert.equal(await c.exists('/d'), false);
      } finally {
        await c.end();
      }
    });
  }

  await t.test('errors are the server messages; the jail holds', async () => {
    writeFileSync(join(u.home, 'mine'), 'mine');
    symlinkSync('/etc', join(u.home, 'etc-link'));
    const c = await connect(srv, u, 'key');
    try {
      await assert.rejects(c.get('/nope'), /No such file/);
      await assert.rejects(c.stat('/../../etc/passwd'), /No such file/);
      await assert.rejects(c.get('/../../etc/passwd'), /No such file/);
      await assert.rejects(c.get('etc-link/passwd'), /No such file/);
      assert.equal(await c.exists('/../../etc/passwd'), false);
      assert.equal(await c.exists('/etc-link/passwd'), false);
      assert.deepEqual((await c.list('/../..')).map((e) => e.name).sort(), ['etc-link', 'mine']);
      assert.equal(await c.realPath('/../../..'), '/');
      await assert.rejects(c.mkdir('/mine'), /exists|Failure/i);
      await assert.rejects(c.delete('/nope'), /No such file/);
    } finally {
      await c.end();
    }
  });
});

// OpenSSH sftp with a 1 GiB file: put, get, sha256 of the bytes on the server's disk and back.
import test from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { useServer } from './helpers/fixture.js';
import { needs } from './helpers/tools.js';
import { sftpBatch } from './helpers/clients.js';
import { randomFile, sha256File } from './helpers/files.js';

const SIZE = 1024 * 1024 * 1024;

test('OpenSSH sftp: 1 GiB put and get', { skip: needs('sftp') }, async (t) => {
  const srv = await useServer(t);
  const u = srv.addUser('big', { key: true });
  const src = join(srv.dir, 'src.bin');
  const want = randomFile(src, SIZE);
  const back = join(srv.dir, 'back.bin');
  const r = await sftpBatch(srv, u, `put ${src} big.bin\nget big.bin ${back}\n`, {
    timeoutMs: 1_800_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(sha256File(join(u.home, 'big.bin')), want);
  assert.equal(sha256File(back), want);
});

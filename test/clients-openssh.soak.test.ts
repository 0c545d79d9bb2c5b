// OpenSSH sftp with a 1 GiB file: put, get, sha256 of the bytes on the server's disk and back.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, createReadStream, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from './helpers/server.js';
import { needs } from './helpers/tools.js';

const SIZE = 1024 * 1024 * 1024;

function sha256File(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => res(h.digest('hex')))
      .on('error', rej);
  });
}

test('OpenSSH sftp: 1 GiB put and get', { skip: needs('sftp') }, async (t) => {
  const srv = await startServer();
  t.after(async () => {
    await srv.stop();
    srv.cleanup();
  });
  const u = srv.addUser('big', { key: true });
  const src = join(srv.dir, 'src.bin');
  const fd = openSync(src, 'w');
  const chunk = Buffer.alloc(4 << 20);
  for (let done = 0; done < SIZE; done += chunk.length) writeSync(fd, randomFillSync(chunk));
  closeSync(fd);
  const want = await sha256File(src);
  const back = join(srv.dir, 'back.bin');
  const code = await new Promise<number | null>((res) => {
    const p = spawn(
      'sftp',
      [
        ...['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'],
        ...['-o', 'LogLevel=ERROR', '-i', u.keyFile!, '-P', String(srv.port), '-b', '-'],
        `${u.name}@${srv.host}`,
      ],
      { stdio: ['pipe', 'inherit', 'inherit'] },
    );
    p.on('close', res);
    p.stdin.end(`put ${src} big.bin\nget big.bin ${back}\n`);
  });
  assert.equal(code, 0);
  assert.equal(await sha256File(join(u.home, 'big.bin')), want);
  assert.equal(await sha256File(back), want);
});

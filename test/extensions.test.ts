// Extensions: VERSION lists exactly what is implemented, and each one works through a real client
// where one uses it (OpenSSH sftp: df, rename, cp, put -f, limits) and through paramiko otherwise.
import test, { before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture } from './helpers/fixture.js';
import type { TestServer, TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import { sftpBatch } from './helpers/clients.js';
import { sha256 } from './helpers/files.js';
import { pyAs } from './helpers/run.js';
import { Status } from '../common/wire.js';

const fx = fixture();
let srv: TestServer;
let u: TestUser;
let local: string;

before(async () => {
  srv = await fx.server();
  u = srv.addUser('alice', { key: true, quota: '10M' });
  mkdirSync(join(u.home, 'sub'), { recursive: true });
  local = fx.tempDir('jailsftp-ext-');
});

const ADVERTISED = [
  ['posix-rename@openssh.com', '1'],
  ['statvfs@openssh.com', '2'],
  ['fstatvfs@openssh.com', '2'],
  ['fsync@openssh.com', '1'],
  ['limits@openssh.com', '1'],
  ['expand-path@openssh.com', '1'],
  ['home-directory', '1'],
  ['copy-data', '1'],
  ['check-file-name', 'md5,sha1,sha256,sha512'],
  ['check-file-handle', 'md5,sha1,sha256,sha512'],
];

test('VERSION advertises exactly the implemented set', { skip: needs('paramiko') }, async () => {
  const { r, lines } = await pyAs('ext_ops.py', srv, u, ['version']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(lines[0], { version: 3, extensions: ADVERTISED });
});

test(
  'OpenSSH sftp uses them: limits, rename (posix-rename), cp (copy-data), put -f (fsync), df (statvfs)',
  { skip: needs('sftp') },
  async () => {
    writeFileSync(join(u.home, 'a'), 'the new content\n');
    writeFileSync(join(u.home, 'b'), 'old');
    const src = Buffer.alloc(700_000);
    for (let i = 0; i < src.length; i++) src[i] = (i * 13) & 0xff;
    writeFileSync(join(local, 'up.bin'), src);
    const r = await sftpBatch(
      srv,
      u,
      `rename a b\ncp b c\nput -f ${join(local, 'up.bin')} sub/up.bin\ndf\n`,
      { extra: ['-vvv'] },
    );
    assert.equal(r.status, 0, r.stderr);
    const log = r.stderr;
    assert.match(log, /Received limits reply/);
    assert.match(log, /server upload\/download buffer sizes 261120 \/ 261120/);
    assert.match(log, /server handle limit 1024/);
    assert.match(log, /Sent message posix-rename@openssh\.com "\/a" -> "\/b"/);
    assert.match(log, /Sent message copy-data "\/b" 0 0 -> "\/c" 0/);
    assert.match(log, /Sending SSH2_FXP_EXTENDED\(fsync@openssh\.com\)/);
    // the result on disk
    assert.equal(readFileSync(join(u.home, 'b'), 'utf8'), 'the new content\n');
    assert.equal(readFileSync(join(u.home, 'c'), 'utf8'), 'the new content\n');
    assert.throws(() => readFileSync(join(u.home, 'a')));
    assert.equal(sha256(readFileSync(join(u.home, 'sub/up.bin'))), sha256(src));
    // df: 10 MiB quota, 700000 + 32 bytes used
    assert.match(r.stdout, /^\s+10240\s+684\s+9556\s+9556\s+6%$/m, r.stdout);
  },
);

test(
  'SFTP v3 RENAME does not replace an existing file (only posix-rename does)',
  { skip: needs('paramiko') },
  async () => {
    writeFileSync(join(u.home, 'r1'), '1');
    writeFileSync(join(u.home, 'r2'), '2');
    const { lines } = await pyAs('ext_ops.py', srv, u, ['rename3', 'r1', 'r2']);
    assert.deepEqual(lines, [
      { op: 'rename', code: Status.FAILURE, message: 'File exists' },
      { op: 'posix-rename', code: Status.OK, message: 'Success' },
    ]);
    assert.equal(readFileSync(join(u.home, 'r2'), 'utf8'), '1');
  },
);

test(
  'limits, expand-path, home-directory through paramiko',
  { skip: needs('paramiko') },
  async () => {
    const l = await pyAs('ext_ops.py', srv, u, ['limits']);
    assert.deepEqual(l.lines[0], { values: [262144, 261120, 261120, 1024] });
    const p = await pyAs('ext_ops.py', srv, u, ['paths']);
    assert.equal(p.r.status, 0, p.r.stderr);
    const noUser = { code: Status.NO_SUCH_FILE, message: 'No such user' };
    assert.deepEqual(
      p.lines.map((x) => [x.ext, x.arg, x.path ?? { code: x.code, message: x.message }]),
      [
        ['expand-path', '~', '/'],
        ['expand-path', '~/sub', '/sub'],
        ['expand-path', '~alice/sub', '/sub'],
        ['expand-path', '~nobody/x', noUser],
        ['expand-path', '/sub/../sub/.', '/sub'],
        ['home-directory', '', '/'],
        ['home-directory', 'alice', '/'],
        ['home-directory', 'nobody', noUser],
      ],
    );
  },
);

test(
  'fstatvfs, fsync, copy-data ranges, overlapping copies, unknown extensions',
  { skip: needs('paramiko') },
  async () => {
    const big = Buffer.alloc(600_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 8)) & 0xff;
    writeFileSync(join(u.home, 'big.bin'), big);
    const { r, lines } = await pyAs('ext_ops.py', srv, u, ['handles']);
    assert.equal(r.status, 0, r.stderr);
    const by = Object.fromEntries(lines.map((l) => [l.ext, l]));
    assert.equal(by.fstatvfs!.frsize, 1024);
    assert.equal(by.fstatvfs!.blocks, 10240);
    assert.equal(by.fsync!.code, Status.OK);
    assert.equal(by['copy-data range']!.code, Status.OK);
    assert.equal(by['copy-data to eof']!.code, Status.OK);
    assert.equal(by['copy-data same handle']!.code, Status.OK);
    assert.deepEqual(by.unknown, {
      ext: 'unknown',
      code: Status.OP_UNSUPPORTED,
      message: 'unsupported extension no-such@example.com',
    });
    const ext = Buffer.alloc(16384);
    for (let i = 0; i < ext.length; i++) ext[i] = i & 0xff;
    const withCopy = Buffer.concat([ext, ext.subarray(0, 100)]);
    assert.equal(sha256(readFileSync(join(u.home, 'ext.bin'))), sha256(withCopy));
    const copy = Buffer.alloc(10000 + 384);
    ext.copy(copy, 100, 1000, 6000);
    ext.copy(copy, 10000, 16000);
    assert.equal(sha256(readFileSync(join(u.home, 'copy.bin'))), sha256(copy));
    // an overlapping copy on one file is refused, or done right; never smeared
    const after = readFileSync(join(u.home, 'big.bin'));
    assert.deepEqual(by['copy-data overlap'], {
      ext: 'copy-data overlap',
      code: Status.FAILURE,
      message: 'Invalid argument',
    });
    assert.equal(sha256(after), sha256(big), 'a refused copy changes nothing');
  },
);

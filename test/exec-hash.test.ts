// The exec hash command at its bounds, through a real SSH connection (ssh2 Client): the longest
// command line and the most paths are served, one byte or one path more is refused before any work.
// And a whole file's sha256, once hashed, is remembered while the file is unchanged.
import test, { before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type ssh2 from 'ssh2';
import { MAX_COMMAND_BYTES, MAX_HASH_PATHS } from '../server/ssh/exec-hash.js';
import { auditEvents } from './helpers/files.js';
import { connect, openSftp } from './helpers/channels.js';
import { waitFor } from './helpers/proc.js';
import { REMEMBER_MIN } from '../server/fs/files.js';
import { fixture } from './helpers/fixture.js';

const fx = fixture();
let c: ssh2.Client;
let home: string;
const SHA = createHash('sha256').update('bounded\n').digest('hex');

before(async () => {
  const srv = await fx.server({ users: { hana: { home: true } } });
  const u = srv.users.hana;
  home = u.home;
  writeFileSync(join(u.home, 'f'), 'bounded\n');
  c = await connect(srv, u);
  fx.defer(() => c.end());
});

function exec(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res, rej) =>
    c.exec(command, (err, ch) => {
      if (err) return rej(err);
      let stdout = '';
      let stderr = '';
      let code = -1;
      ch.on('data', (d: Buffer) => (stdout += d.toString()));
      ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      ch.on('exit', (n: number) => (code = n));
      ch.on('close', () => res({ code, stdout, stderr }));
    }),
  );
}

test('a command line of exactly the bound is served; one byte more is refused', async () => {
  const line = 'sha256sum f';
  const atBound = line + ' '.repeat(MAX_COMMAND_BYTES - line.length);
  const ok = await exec(atBound);
  assert.deepEqual(ok, { code: 0, stdout: `${SHA}  f\n`, stderr: '' });
  const over = await exec(atBound + ' ');
  assert.deepEqual(over, {
    code: 1,
    stdout: '',
    stderr: `jailsftpd: command line too long (limit ${MAX_COMMAND_BYTES} bytes)\r\n`,
  });
});

test('the most paths are all hashed; one path more is refused with nothing hashed', async () => {
  const ok = await exec(`sha256sum${' f'.repeat(MAX_HASH_PATHS)}`);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, `${SHA}  f\n`.repeat(MAX_HASH_PATHS));
  const over = await exec(`md5sum${' f'.repeat(MAX_HASH_PATHS + 1)}`);
  assert.deepEqual(over, {
    code: 1,
    stdout: '',
    stderr: `jailsftpd: too many paths (limit ${MAX_HASH_PATHS})\r\n`,
  });
});

test('errors take their text from the status map, in coreutils wording', async () => {
  const r = await exec("sha1sum f nope / 'a\\b'");
  assert.equal(r.code, 1);
  assert.equal(r.stdout, `${createHash('sha1').update('bounded\n').digest('hex')}  f\n`);
  assert.equal(
    r.stderr,
    'sha1sum: nope: No such file or directory\nsha1sum: /: Is a directory\n' +
      'sha1sum: a\\b: No such file or directory\n',
  );
});

test('sha256sum right after an upload, small or large, and after the file changed in place', async () => {
  const dir = fx.tempDir('jailsftp-hashup-');
  const audit = join(dir, 'audit.log');
  const srv = await fx.server({ dir, users: { ivo: { home: true } }, config: { auditLog: audit } });
  const u = srv.users.ivo;
  const conn = await connect(srv, u);
  fx.defer(() => conn.end());
  const sftp = await openSftp(conn);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const hashOf = (name: string) =>
    new Promise<string>((res, rej) =>
      conn.exec(`sha256sum ${name}`, (err, ch) => {
        if (err) return rej(err);
        let out = '';
        ch.on('data', (d: Buffer) => (out += d.toString()));
        ch.on('close', () => res(out));
      }),
    );
  // below REMEMBER_MIN the digest is not kept (hashed again when asked); at it, it is
  for (const [name, size] of [
    ['small.bin', 4096],
    ['large.bin', REMEMBER_MIN],
  ] as const) {
    const data = Buffer.alloc(size, name.length);
    await new Promise<void>((res, rej) =>
      sftp.writeFile(`/${name}`, data, (err) => (err ? rej(err) : res())),
    );
    assert.equal(await hashOf(name), `${sha(data)}  ${name}\n`);
    // another program rewrites it in place, same size, at once: the answer follows the disk
    const changed = Buffer.alloc(size, 0x5a);
    writeFileSync(join(u.home, name), changed, { flag: 'r+' });
    assert.equal(await hashOf(name), `${sha(changed)}  ${name}\n`);
    // the upload's audit event carries the digest of what was written, whatever its size
    type Ev = { event: string; path?: string; sha256?: string };
    const upload = (): Ev | undefined =>
      auditEvents<Ev>(audit).find((e) => e.event === 'upload' && e.path === `/${name}`);
    await waitFor(() => upload() !== undefined, 5000, 'the upload event');
    const up = upload()!;
    assert.equal(up.sha256, sha(data), name);
  }
});

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Writes `content` with mtime `secs` (whole seconds: set again exactly after a swap). */
function place(name: string, content: string, secs: number): void {
  writeFileSync(join(home, name), content);
  utimesSync(join(home, name), secs, secs);
}

test('a remembered digest is not served for a new content with size and mtime put back', async () => {
  // settled: changed (ctime) over a second before the hash, so its digest is remembered
  const old = Math.floor(Date.now() / 1000) - 3600;
  place('settled', 'first\n', old);
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal((await exec('sha256sum settled')).stdout, `${sha256('first\n')}  settled\n`);
  // a new version of the same size, its mtime set back as timestamp-preserving tools do: the
  // stamp's ctime changed, so the server hashes again (with size and mtime only, it answered
  // the first content's digest)
  place('settled', 'other\n', old);
  assert.equal((await exec('sha256sum settled')).stdout, `${sha256('other\n')}  settled\n`);
});

test('a file modified within a second of its hash is not remembered (file times are coarse)', async () => {
  // an mtime in the future stands for "written just now": a write in the same clock tick would
  // leave it as it is
  const soon = Math.floor(Date.now() / 1000) + 60;
  place('fresh', 'first\n', soon);
  assert.equal((await exec('sha256sum fresh')).stdout, `${sha256('first\n')}  fresh\n`);
  place('fresh', 'other\n', soon);
  assert.equal((await exec('sha256sum fresh')).stdout, `${sha256('other\n')}  fresh\n`);
});

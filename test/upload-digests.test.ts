// When an upload's SHA-256 is computed as it arrives (Config.uploadDigests, common/upload-digests.ts):
// only for a client that verifies its uploads (our client; OpenSSH sftp with SetEnv; a connection
// that ran sha256sum) or with `uploadDigests: always`. Every other upload is stored without the
// hash, and `sha256sum` still answers the right digest, by reading the file.
import test from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type ssh2 from 'ssh2';
import { UPLOAD_DIGESTS_ENV } from '../common/upload-digests.js';
import { connect, openSftp } from './helpers/channels.js';
import { sftpBatch, sshKey } from './helpers/clients.js';
import { fixture, useServer, type FixtureServer } from './helpers/fixture.js';
import { randomFile, remembered } from './helpers/files.js';
import { runClient, scratchHome } from './helpers/jailsftp.js';
import { needs } from './helpers/tools.js';

const MiB = 1024 * 1024;
const skipSftp = needs('sftp');

const fx = fixture();
let srv: FixtureServer<'ola'>;
let local: string;
let digest: string;

test.before(async () => {
  srv = await fx.server({ users: { ola: { home: true, key: true } } });
  local = fx.tempDir('jailsftp-digests-');
  digest = randomFile(join(local, 'f.bin'), 3 * MiB + 7);
});

const onDisk = (name: string): string => join(srv.users.ola.home, name);

async function sha256sum(name: string): Promise<string> {
  const r = await sshKey(srv, srv.users.ola, ['sha256sum', name]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test(
  'OpenSSH sftp: the upload is stored unhashed; sha256sum reads it and answers',
  { skip: skipSftp },
  async () => {
    const r = await sftpBatch(srv, srv.users.ola, 'put f.bin plain.bin\n', { cwd: local });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(remembered(onDisk('plain.bin')), false, 'no digest computed while it arrived');
    assert.equal(await sha256sum('plain.bin'), `${digest}  plain.bin\n`);
  },
);

test(
  'OpenSSH sftp with SetEnv JAILSFTP_UPLOAD_DIGESTS=1: hashed as it arrives',
  { skip: skipSftp },
  async () => {
    const r = await sftpBatch(srv, srv.users.ola, 'put f.bin asked.bin\n', {
      cwd: local,
      extra: ['-o', `SetEnv=${UPLOAD_DIGESTS_ENV}=1`],
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(remembered(onDisk('asked.bin')), true, 'the digest was computed and remembered');
    assert.equal(await sha256sum('asked.bin'), `${digest}  asked.bin\n`);
  },
);

test('our client asks for it: its put is hashed as it arrives and verified', async () => {
  const home = scratchHome(fx);
  const r = await runClient(
    [
      '-P',
      String(srv.port),
      '-i',
      srv.users.ola.keyFile!,
      '--yes',
      '-c',
      'put f.bin ours.bin',
      `ola@${srv.host}`,
    ],
    { home, cwd: local },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /sha256 verified/);
  assert.equal(
    remembered(onDisk('ours.bin')),
    true,
    'verified from the digest computed on arrival',
  );
});

test('a connection that ran sha256sum: its next uploads are hashed as they arrive', async () => {
  const c = await connect(srv, srv.users.ola);
  fx.defer(() => c.end());
  const s = await openSftp(c);
  const put = (name: string): Promise<void> =>
    new Promise((res, rej) =>
      s.fastPut(join(local, 'f.bin'), name, { concurrency: 1 }, (e) => (e ? rej(e) : res())),
    );
  await put('before.bin');
  assert.equal(remembered(onDisk('before.bin')), false, 'before any sha256sum: not hashed');
  const out = await new Promise<string>((res, rej) =>
    c.exec('sha256sum before.bin', (err, ch) => {
      if (err) return rej(err);
      let text = '';
      ch.on('data', (d: Buffer) => (text += d.toString()));
      ch.on('close', () => res(text));
    }),
  );
  assert.equal(out, `${digest}  before.bin\n`);
  await put('after.bin');
  assert.equal(remembered(onDisk('after.bin')), true, 'after a sha256sum: hashed on arrival');
});

test('other environment variables are refused, and the SFTP channel is not opened', async () => {
  const c: ssh2.Client = await connect(srv, srv.users.ola);
  fx.defer(() => c.end());
  await assert.rejects(openSftp(c, { LD_PRELOAD: '/tmp/x.so' }), /Unable to set environment/);
  // the connection still works
  const s = await openSftp(c, { [UPLOAD_DIGESTS_ENV]: '1' });
  const names = await new Promise<string[]>((res, rej) =>
    s.readdir('/', (e, l) => (e ? rej(e) : res(l.map((x) => x.filename)))),
  );
  assert.ok(names.includes('plain.bin'), names.join(' '));
});

test(
  'uploadDigests "always": every upload is hashed as it arrives',
  { skip: skipSftp },
  async (t) => {
    const all = await useServer(t, {
      users: { ola: { home: true, key: true } },
      config: { uploadDigests: 'always' },
    });
    const r = await sftpBatch(all, all.users.ola, 'put f.bin always.bin\n', { cwd: local });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(remembered(join(all.users.ola.home, 'always.bin')), true);
  },
);

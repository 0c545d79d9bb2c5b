// FileZilla's real SFTP engine (fzsftp from Debian's filezilla package) driven as FileZilla's UI
// drives it (test/helpers/fzsftp.ts): key and password logins, host key check, listing, upload and
// download with sha256, resume of an interrupted upload (reput) and download (reget), rename,
// delete, mkdir, and an upload over the quota. The paramiko replay in resume.test.ts stays.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fixture } from './helpers/fixture.js';
import { sleep, waitFor } from './helpers/proc.js';
import type { TestServer, TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import { FzSftp, Ev } from './helpers/fzsftp.js';
import { randomFiles, sha256, sizeOf, usage, SIZES } from './helpers/files.js';

const MB = 1024 * 1024;

/** The server's host key fingerprints (SHA256:...), as FileZilla's user would check them. */
function hostKeys(srv: TestServer): string[] {
  const hk = srv.cli(['hostkey', '--host-keys', srv.keysDir]);
  assert.equal(hk.status, 0, hk.stderr);
  return hk.stdout
    .trim()
    .split('\n')
    .map((l) => l.split(' ')[1]!);
}

/** Waits until a file exists with a size that stays the same for 300 ms; returns that size. */
async function settledSize(path: string): Promise<number> {
  let last = -2;
  for (let i = 0; i < 100; i++) {
    const s = sizeOf(path);
    if (s > 0 && s === last) return s;
    last = s;
    await sleep(300);
  }
  return last;
}

test('FileZilla fzsftp', { skip: needs('fzsftp') }, async (t) => {
  const fx = fixture(t);
  const srv = await fx.server({
    users: { pat: { password: 'pat-secret' }, kim: { key: true } },
  });
  const keys = hostKeys(srv);
  const fzHome = fx.tempDir('jailsftp-fzhome-'); // HOME and PUTTYDIR of fzsftp: nothing lands in ~
  const local = fx.tempDir('jailsftp-fz-local-');
  const data = randomFiles(local);
  const { pat: pwUser, kim: keyUser } = srv.users;

  const open = async (u: TestUser, o: { password?: string; hostKeys?: string[] } = {}) => {
    const fz = await FzSftp.start({ dir: fzHome });
    fx.defer(() => fz.kill());
    const r = await fz.connect({
      host: srv.host,
      port: srv.port,
      user: u.name,
      hostKeys: o.hostKeys ?? keys,
      ...(u.keyFile ? { keyFile: u.keyFile } : { password: o.password ?? u.password }),
    });
    return { fz, r };
  };
  const session = async (u: TestUser): Promise<FzSftp> => {
    const { fz, r } = await open(u);
    assert.ok(r.ok, fz.log());
    return fz;
  };

  for (const u of [pwUser, keyUser]) {
    const how = u === keyUser ? 'key' : 'password';
    await t.test(`${how}: connect, mkdir, cd, put, ls (names, sizes), get, sha256`, async () => {
      const fz = await session(u);
      assert.ok(fz.texts(Ev.Status).includes(`Connected to ${srv.host}`), fz.log());
      if (u === keyUser) {
        assert.ok(fz.texts(Ev.Verbose).includes('Sent public key signature'), fz.log());
        // the log line may follow the client's first reply: wait for it
        await waitFor(
          () => /login user=kim addr=\S+ method=publickey/.test(srv.output()),
          5000,
          'the login log line',
        );
      } else {
        assert.deepEqual(fz.texts(Ev.AskPassword), ['Password: ']);
        await waitFor(
          () => /login user=pat addr=\S+ method=keyboard-interactive/.test(srv.output()),
          5000,
          'the login log line',
        );
      }
      assert.equal((await fz.command('mkdir d')).reply, 'mkdir /d: OK');
      assert.equal((await fz.command('cd d')).reply, 'New directory is: "/d"');
      assert.equal((await fz.command('pwd')).reply, 'Current directory is: "/d"');
      const back = fx.tempDir(`jailsftp-fz-back-${u.name}-`);
      for (const [n, size] of SIZES) {
        const up = await fz.put(join(local, n), n);
        assert.ok(up.ok, `${n}: ${up.errors.join('; ')}`);
        assert.deepEqual(up.info, [`local:${join(local, n)} => remote:/d/${n}`]);
        assert.equal(up.bytes, size);
        // FileZilla keeps the local modification time: chmtime after the upload
        const mt = await fz.command(`chmtime 1700000000 ${n}`);
        assert.ok(mt.ok, mt.errors.join('; '));
        assert.equal(statSync(join(u.home, 'd', n)).mtimeMs, 1700000000_000);
        assert.equal((await fz.command(`mtime ${n}`)).reply, '1700000000'); // before a download
        assert.equal(sha256(readFileSync(join(u.home, 'd', n))), sha256(data.get(n)!), n);
      }
      const ls = await fz.ls();
      assert.ok(ls.ok, ls.errors.join('; '));
      const listed = ls.list
        .filter((e) => e.name !== '.' && e.name !== '..')
        .map((e) => [e.name, e.size, e.mtime])
        .sort();
      assert.deepEqual(listed, SIZES.map(([n, s]) => [n, s, 1700000000]).sort());
      for (const [n, size] of SIZES) {
        const down = await fz.get(n, join(back, n));
        assert.ok(down.ok, `${n}: ${down.errors.join('; ')}`);
        assert.deepEqual(down.info, [`remote:/d/${n} => local:${join(back, n)}`]);
        assert.equal(down.bytes, size);
        assert.equal(sha256(readFileSync(join(back, n))), sha256(data.get(n)!), n);
      }
      assert.equal(await fz.quit(), 0, fz.log());
    });
  }

  await t.test('rename, delete, mkdir, rmdir; errors as fzsftp reports them', async () => {
    const fz = await session(keyUser);
    const mv = await fz.command('mv d/m5 d/m5.moved');
    assert.ok(mv.ok, mv.errors.join('; '));
    assert.deepEqual(mv.status, ['/d/m5 -> /d/m5.moved']);
    assert.equal(sizeOf(join(keyUser.home, 'd', 'm5')), -1);
    assert.equal(
      sha256(readFileSync(join(keyUser.home, 'd', 'm5.moved'))),
      sha256(data.get('m5')!),
    );
    const mvMissing = await fz.command('mv nope d/x');
    assert.equal(mvMissing.ok, false);
    assert.deepEqual(mvMissing.errors, ['mv /nope /d/x: no such file or directory']);

    assert.equal((await fz.command('rm d/one')).reply, 'rm /d/one: OK');
    assert.equal(sizeOf(join(keyUser.home, 'd', 'one')), -1);
    const rmMissing = await fz.command('rm nofile');
    assert.equal(rmMissing.ok, false);
    assert.deepEqual(rmMissing.errors, ['rm /nofile: no such file or directory']);

    assert.equal((await fz.command('mkdir e')).reply, 'mkdir /e: OK');
    assert.ok(statSync(join(keyUser.home, 'e')).isDirectory());
    const again = await fz.command('mkdir e');
    assert.equal(again.ok, false);
    assert.match(again.errors.join(), /^mkdir \/e: /);
    const full = await fz.command('rmdir d');
    assert.equal(full.ok, false);
    assert.match(full.errors.join(), /^rmdir \/d: /);
    assert.ok(statSync(join(keyUser.home, 'd')).isDirectory());
    assert.equal((await fz.command('rmdir e')).reply, 'rmdir /e: OK');
    assert.equal(sizeOf(join(keyUser.home, 'e')), -1);

    // the jail: the home is "/" and ".." stays there; outside paths answer like missing ones
    assert.equal((await fz.command('cd ../..')).reply, 'New directory is: "/"');
    const root = await fz.ls('/');
    assert.deepEqual(root.list.map((e) => e.name).sort(), ['.', '..', 'd']);
    const esc = await fz.get('../../etc/passwd', join(local, 'stolen'));
    assert.equal(esc.ok, false);
    assert.deepEqual(esc.errors, ['/etc/passwd: open for read: no such file or directory']);
    assert.equal(sizeOf(join(local, 'stolen')), -1);
    assert.equal(await fz.quit(), 0, fz.log());
  });

  const BIG = 3 * MB + 12345;
  const big = randomBytes(BIG);
  writeFileSync(join(local, 'big'), big);

  await t.test('an interrupted upload resumes with reput at the size on the server', async () => {
    const fz = await session(keyUser);
    const remote = join(keyUser.home, 'big');
    const put = fz.put(join(local, 'big'), 'big', { stallAfter: MB });
    await put.stalled; // fzsftp waits for its next buffer; what it sent reaches the server
    assert.ok((await settledSize(remote)) > 0);
    await fz.kill(); // the connection is lost mid-transfer
    assert.equal((await put).exited, true);
    const partial = await settledSize(remote); // the partial file stays on the server
    assert.ok(partial > 0 && partial < BIG, `partial ${partial}`);
    assert.ok(readFileSync(remote).equals(big.subarray(0, partial)));

    const fz2 = await session(keyUser);
    const re = await fz2.put(join(local, 'big'), 'big', { resume: true });
    assert.ok(re.ok, re.errors.join('; '));
    assert.deepEqual(re.info, [
      `reput: restarting at file position ${partial}`,
      `local:${join(local, 'big')} => remote:/big`,
    ]);
    assert.equal(re.openOffset, partial);
    assert.equal(re.bytes, BIG - partial, 'only the rest was sent');
    assert.equal(sha256(readFileSync(remote)), sha256(big));
    assert.equal(await fz2.quit(), 0, fz2.log());
  });

  await t.test('an interrupted download resumes with reget at the local size', async () => {
    const fz = await session(keyUser);
    const dest = join(local, 'big.down');
    const get = fz.get('big', dest, { stallAfter: MB });
    await get.stalled;
    await fz.kill();
    assert.equal((await get).exited, true);
    const partial = sizeOf(dest);
    assert.ok(partial >= MB && partial < BIG, `partial ${partial}`);
    assert.ok(readFileSync(dest).equals(big.subarray(0, partial)));

    const fz2 = await session(keyUser);
    const re = await fz2.get('big', dest, { resume: true });
    assert.ok(re.ok, re.errors.join('; '));
    assert.equal(re.openOffset, partial);
    assert.equal(re.bytes, BIG - partial, 'only the rest was received');
    assert.equal(sha256(readFileSync(dest)), sha256(big));
    assert.equal(await fz2.quit(), 0, fz2.log());
  });

  await t.test('over the quota: the upload fails, the bytes within the quota stay', async () => {
    const QUOTA = 200_000;
    const q = srv.addUser('quinn', { password: 'quinn-secret', quota: QUOTA });
    const filler = randomBytes(50_000);
    const over = randomBytes(180_000);
    writeFileSync(join(local, 'filler'), filler);
    writeFileSync(join(local, 'over'), over);
    const fz = await session(q);
    assert.ok((await fz.put(join(local, 'filler'), 'filler')).ok);
    const up = await fz.put(join(local, 'over'), 'over');
    assert.equal(up.ok, false);
    assert.equal(up.errors.length, 1, up.errors.join('; '));
    assert.match(
      up.errors[0]!,
      /^error while writing: received failure with description 'quota exceeded: .+ free'$/,
    );
    const kept = sizeOf(join(q.home, 'over'));
    assert.ok(kept > 0 && kept <= QUOTA - filler.length, `kept ${kept}`);
    assert.ok(readFileSync(join(q.home, 'over')).equals(over.subarray(0, kept)));
    assert.ok(usage(q.home) <= QUOTA, `usage ${usage(q.home)}`);

    // free space, then continue where it stopped
    assert.equal((await fz.command('rm filler')).reply, 'rm /filler: OK');
    const re = await fz.put(join(local, 'over'), 'over', { resume: true });
    assert.ok(re.ok, re.errors.join('; '));
    assert.equal(re.openOffset, kept);
    assert.equal(sha256(readFileSync(join(q.home, 'over'))), sha256(over));
    assert.equal(usage(q.home), over.length);
    assert.equal(await fz.quit(), 0, fz.log());
  });

  await t.test('a wrong password and a wrong host key are refused', async () => {
    const pw = await open(pwUser, { password: 'not-the-password' });
    assert.equal(pw.r.ok, false);
    assert.ok(pw.r.errors.includes('Authentication failed.'), pw.fz.log());
    assert.ok(pw.fz.texts(Ev.Status).includes('Access denied '), pw.fz.log());
    assert.match(srv.output(), /login\.failed user=pat /);

    const hk = await open(pwUser, {
      hostKeys: ['SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    });
    assert.equal(hk.r.ok, false);
    assert.deepEqual(hk.r.errors, ['Connection abandoned.']);
    assert.ok(hk.fz.texts(Ev.Verbose).includes('User aborted at host key verification'));
    assert.ok(keys.includes(hk.fz.hostKey), 'fzsftp saw one of our host keys');
  });
});

// Issue 10: SFTP v3 RENAME never replaces an existing target, even one created on the disk while the
// rename runs; posix-rename replaces and gives the replaced file's space back; the ledger equals
// the disk afterwards. Driven by raw SFTP and by OpenSSH sftp.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Status } from '../common/wire.js';
import { fixture } from './helpers/fixture.js';
import { F, Pkt, rawSftp, T, type Raw } from './helpers/attack.js';
import { sftpBatch } from './helpers/clients.js';
import { usage } from './helpers/files.js';
import { lastJson, run } from './helpers/run.js';
import { needs, PY } from './helpers/tools.js';

const QUOTA = 8 * 1024 * 1024;

/**
 * On the disk, next to the server: creates `t` exclusively with its own content, holds it a moment,
 * checks that `t` is still its file with its content, removes it, and again, until the file `stop`
 * (argv[2], outside the home) exists.
 * Prints {"made": N, "lost": M} where lost counts files replaced or changed while it held them.
 */
const WRITER = `
import os, sys, json, time, random
home, stop = sys.argv[1], sys.argv[2]
t = os.path.join(home, 't')
made = lost = 0
while not os.path.exists(stop):
    try:
        fd = os.open(t, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        continue
    body = ('writer-%d-' % made).encode() * 50
    os.write(fd, body)
    ino = os.fstat(fd).st_ino
    made += 1
    if random.random() < 0.5:
        time.sleep(random.random() / 2000)
    try:
        st = os.lstat(t)
        with open(t, 'rb') as f:
            same = st.st_ino == ino and f.read() == body
    except OSError:
        same = False
    if not same:
        lost += 1
    else:
        os.unlink(t)
    os.close(fd)
    if random.random() < 0.5:
        time.sleep(random.random() / 2000)
print(json.dumps({'made': made, 'lost': lost}), flush=True)
`;

async function ledgerUsed(r: Raw): Promise<number> {
  return QUOTA - (await r.free());
}

test('RENAME never replaces; posix-rename replaces; the ledger stays right', async (t) => {
  const fx = fixture(t);
  const srv = await fx.server({ users: { alice: { quota: QUOTA, key: true, home: true } } });
  const { alice } = srv.users;
  const stop = join(fx.tempDir('jailsftp-rename-'), 'stop');
  fx.defer(() => writeFileSync(stop, '')); // the writer ends even when a test fails

  await t.test('a target created on the disk during renames is never lost', async () => {
    const r = await rawSftp(srv, alice);
    const writer = run(PY, ['-c', WRITER, alice.home, stop]);
    const src = Buffer.alloc(1024, 0x73);
    let renamed = 0;
    let refused = 0;
    let clientLost = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 6000) {
      const h = await r.openOk('/s', F.WRITE | F.CREAT | F.TRUNC);
      await r.write(h, 0, src);
      await r.close(h);
      const rep = await r.req(T.RENAME, new Pkt().str('/s').str('/t'));
      if (rep.code === Status.OK) {
        renamed++;
        // ours now: the writer cannot create t until we remove it
        let ours = false;
        try {
          ours = readFileSync(join(alice.home, 't')).equals(src);
        } catch {
          /* removed by the writer: it held a file that RENAME replaced */
        }
        if (!ours) clientLost++;
        await r.path(T.REMOVE, '/t');
      } else {
        assert.equal(rep.code, Status.FAILURE, `${rep.code} ${rep.msg}`);
        assert.equal(rep.msg, 'File exists');
        refused++;
        assert.ok(readFileSync(join(alice.home, 's')).equals(src), 'source kept on refusal');
      }
    }
    writeFileSync(stop, '');
    const w = lastJson<{ made: number; lost: number }>((await writer).stdout);
    t.diagnostic(
      `renames: ${renamed} done (${clientLost} of them not found afterwards), ${refused} refused; ` +
        `writer made ${w.made} files, lost ${w.lost}`,
    );
    assert.ok(renamed > 0 && refused > 0 && w.made > 0, 'both sides ran');
    assert.equal(w.lost, 0, 'a file the writer created was replaced by RENAME');
    assert.equal(clientLost, 0, 'a renamed file was not there afterwards');
    await r.path(T.REMOVE, '/s');
    assert.equal(await ledgerUsed(r), usage(alice.home), 'ledger equals the disk');
    assert.equal(usage(alice.home), 0);
    await r.end();
  });

  await t.test('posix-rename replaces and gives the replaced bytes back', async () => {
    const r = await rawSftp(srv, alice);
    await r.put('/a', Buffer.alloc(300 * 1024, 1));
    await r.put('/b', Buffer.alloc(500 * 1024, 2));
    const refused = await r.req(T.RENAME, new Pkt().str('/a').str('/b'));
    assert.equal(refused.code, Status.FAILURE);
    assert.equal(readFileSync(join(alice.home, 'b'))[0], 2, 'target untouched');
    // the target grows on the disk after the server last saw it: the release counts that too
    writeFileSync(join(alice.home, 'b'), Buffer.alloc(700 * 1024, 3));
    const rep = await r.ext('posix-rename@openssh.com', new Pkt().str('/a').str('/b'));
    assert.equal(rep.code, Status.OK, rep.msg);
    assert.equal(readFileSync(join(alice.home, 'b'))[0], 1);
    // 300 + 500 KiB counted, then the 700 KiB of the replaced b given back: 200 KiB below the
    // disk, as the server never saw b grow on the disk (a stale stat would give only 500 KiB)
    assert.equal(await ledgerUsed(r), usage(alice.home) - 200 * 1024);
    await r.path(T.REMOVE, '/b');
    await r.end();
  });

  await t.test('directories: RENAME onto a file or a non-empty directory fails', async () => {
    const r = await rawSftp(srv, alice);
    mkdirSync(join(alice.home, 'd1'));
    mkdirSync(join(alice.home, 'd2'));
    writeFileSync(join(alice.home, 'd2', 'keep'), 'keep');
    writeFileSync(join(alice.home, 'f'), 'file');
    for (const to of ['/d2', '/f']) {
      const rep = await r.req(T.RENAME, new Pkt().str('/d1').str(to));
      assert.equal(rep.code, Status.FAILURE, to);
    }
    assert.equal(readFileSync(join(alice.home, 'd2', 'keep'), 'utf8'), 'keep');
    assert.equal(readFileSync(join(alice.home, 'f'), 'utf8'), 'file');
    assert.equal((await r.req(T.RENAME, new Pkt().str('/d1').str('/d3'))).code, Status.OK);
    await r.end();
  });

  await t.test(
    'OpenSSH sftp: rename -l onto an existing file fails',
    { skip: needs('sftp') },
    async () => {
      writeFileSync(join(alice.home, 'one'), 'one');
      writeFileSync(join(alice.home, 'two'), 'two');
      const r = await sftpBatch(srv, alice, 'rename -l one two\n');
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /remote rename "\/one" to "\/two": Failure/);
      assert.equal(readFileSync(join(alice.home, 'two'), 'utf8'), 'two');
      assert.equal(readFileSync(join(alice.home, 'one'), 'utf8'), 'one');
      // a new name works; plain `rename` uses posix-rename@openssh.com and replaces, as with sshd
      const ok = await sftpBatch(srv, alice, 'rename -l one three\nrename three two\n');
      assert.equal(ok.status, 0, ok.stderr);
      assert.equal(readFileSync(join(alice.home, 'two'), 'utf8'), 'one');
    },
  );
});

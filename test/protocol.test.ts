// SFTP v3 protocol coverage with exact packet sequences, written by a raw paramiko client
// (test/py/proto_*.py): every request type, every OPEN flag combination, READ clamping and EOF,
// READDIR batching and longnames, SETSTAT/FSETSTAT, REALPATH, RENAME, READLINK, SYMLINK, the
// VERSION extension list, limits@openssh.com, and malformed packets. Each script checks the bytes on
// disk itself and prints one line per check; a failed check fails the test with its name.
import test from 'node:test';
import assert from 'node:assert/strict';
import { useServer } from './helpers/fixture.js';
import { type TestServer, type TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import { pyRun } from './helpers/run.js';

/** Runs a script and turns its check lines into assertions. Returns the names that passed. */
async function expectAllChecks(script: string, srv: TestServer, u: TestUser): Promise<string[]> {
  const r = await pyRun(script, [srv.host, srv.port, u.name, u.password, u.home], {
    timeoutMs: 100_000,
  });
  const lines = r.stdout.split('\n');
  const failed = lines.filter((l) => l.startsWith('FAIL '));
  assert.deepEqual(failed, [], `${script} failed checks:\n${failed.join('\n')}`);
  assert.equal(r.status, 0, `${script} exited ${r.status}:\n${r.stderr.slice(-3000)}`);
  assert.match(r.stdout, /\{"failures": \[\]\}/, 'the script ran to its end');
  return lines.filter((l) => l.startsWith('ok ')).map((l) => l.slice(3));
}

test('SFTP v3 protocol with a raw paramiko client', { skip: needs('paramiko') }, async (t) => {
  const srv = await useServer(t);
  const fresh = (name: string): TestUser => {
    const u = srv.addUser(name, { password: `pw-${name}`, home: true });
    return u;
  };

  await t.test('every request, every OPEN flag combination, every extension', async () => {
    const ok = await expectAllChecks('proto_ops.py', srv, fresh('ops'));
    // the script really ran the whole list
    for (const name of [
      'VERSION lists exactly the extensions',
      'limits@openssh.com values',
      'OPEN flags=0x3a existing: EXCL fails',
      'OPEN flags=0x1a existing: content on open',
      'OPEN flags=0x0e existing: bytes on disk',
      'OPEN flags=0x0a missing: WRITE ok',
      'READ clamped to 255 KiB',
      'READ at EOF: EOF status',
      'SETSTAT times',
      'FSETSTAT size',
      'RENAME onto an existing file fails',
      'posix-rename replaces',
      'SYMLINK refused',
      'check-file-name sha256',
      'copy-data',
    ])
      assert.ok(ok.includes(name), `check "${name}" did not run`);
    assert.ok(ok.length > 500, `only ${ok.length} checks ran`);
  });

  await t.test('READDIR of 250 entries', async () => {
    const ok = await expectAllChecks('proto_readdir.py', srv, fresh('dirs'));
    assert.ok(ok.includes('READDIR at most 100 names a reply'));
    assert.ok(ok.includes('longnames are ls -l lines matching the attrs'));
  });

  await t.test(
    'malformed packets: BAD_MESSAGE or that connection closed; others go on',
    async () => {
      const ok = await expectAllChecks('proto_malformed.py', srv, fresh('bad'));
      assert.ok(ok.includes('packet longer than 256 KiB: connection closed'));
      assert.ok(ok.includes('second client still works after random garbage'));
      // the server is still up and serving new connections
      assert.equal(srv.proc.exitCode, null);
      const again = await expectAllChecks('proto_readdir.py', srv, fresh('after'));
      assert.ok(again.length > 5);
    },
  );
});

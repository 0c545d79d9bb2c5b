// Names from the server reach the terminal escaped: a file name with control characters (placed in
// a home by an administrator) cannot move the cursor or set the title through ls, transfer lines or
// error messages, and is still transferred under its real name.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fixture } from './helpers/fixture.js';
import type { TestServer, TestUser } from './helpers/server.js';
import { runClient, scratchHome, type RunResult } from './helpers/jailsftp.js';

const fx = fixture();
let srv: TestServer;
let alice: TestUser;
let home: string;

const TITLE = 'e\x1b]0;owned\x07.txt';
const CLEAR = 'x\x1b[2Jy.bin';
const C1 = 'c1\u009bname';

function client(args: string[]): Promise<RunResult> {
  return runClient(
    ['-P', String(srv.port), '-i', alice.keyFile!, '--yes', ...args, `${alice.name}@127.0.0.1`],
    { home, cwd: home },
  );
}

/** No raw control character but the line ends. */
function assertClean(text: string): void {
  const raw = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/.exec(text);
  assert.equal(raw, null, `raw control character in ${JSON.stringify(text)}`);
}

before(async () => {
  const s = await fx.server({ users: { alice: { key: true, home: true } } });
  srv = s;
  alice = s.users.alice;
  home = scratchHome(fx);
  // what an administrator (or another tool) put straight into the home on disk
  writeFileSync(join(alice.home, TITLE), 'title\n');
  writeFileSync(join(alice.home, C1), 'c1\n');
  mkdirSync(join(alice.home, 'sub'));
  writeFileSync(join(alice.home, 'sub', CLEAR), 'clear\n');
});

test('ls and ls -l print control characters in names as \\xHH', async () => {
  const r = await client(['-c', 'ls; ls -l; ls sub']);
  assert.equal(r.status, 0, r.stderr);
  assertClean(r.stdout + r.stderr);
  const out = r.stdout.split('\n');
  assert.ok(out.includes('e\\x1b]0;owned\\x07.txt'), r.stdout);
  assert.ok(out.includes('c1\\x9bname'), r.stdout);
  assert.ok(out.some((l) => / e\\x1b\]0;owned\\x07\.txt$/.test(l) && l.startsWith('-rw')));
  assert.ok(out.includes('x\\x1b[2Jy.bin'), r.stdout);
});

test('get, mget and get -r: transfer lines escaped, files saved under their real names', async () => {
  const r = await client(['-c', 'mget e*; get -r sub got; get c1*']);
  assert.equal(r.status, 0, r.stderr);
  assertClean(r.stdout + r.stderr);
  assert.match(
    r.stdout,
    /^\/e\\x1b\]0;owned\\x07\.txt -> .*e\\x1b\]0;owned\\x07\.txt: .*sha256 verified$/m,
  );
  assert.match(
    r.stdout,
    /^\/sub\/x\\x1b\[2Jy\.bin -> .*got\/x\\x1b\[2Jy\.bin: .*sha256 verified$/m,
  );
  assert.match(r.stdout, /^\/c1\\x9bname -> /m);
  assert.equal(readFileSync(join(home, TITLE), 'utf8'), 'title\n');
  assert.equal(readFileSync(join(home, 'got', CLEAR), 'utf8'), 'clear\n');
  assert.equal(readFileSync(join(home, C1), 'utf8'), 'c1\n');
});

test('error lines are escaped too', async () => {
  const r = await client(['-c', 'get "no\x1b]2;t\x07file"']);
  assert.equal(r.status, 1);
  assertClean(r.stdout + r.stderr);
  assert.match(r.stderr, /^get: \/no\\x1b\]2;t\\x07file: No such file or directory$/m);
});

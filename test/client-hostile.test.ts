// The ftp> client against a server that lies (test/py/hostile_server.py): hostile names never write
// outside the target directory, escape sequences never reach the terminal, truncated, oversized and
// garbage replies fail the command with one clear line (no crash, no hang), wrong digests fail the
// verification, a changed host key is refused before anything is transferred.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test, type TestContext } from 'node:test';
import { fixture } from './helpers/fixture.js';
import {
  CONTENT,
  hostileClient,
  startHostile,
  startHostileClient,
  type Hostile,
} from './helpers/hostile.js';
import { scratchHome, type RunResult } from './helpers/jailsftp.js';
import { exited, sleep, waitFor } from './helpers/proc.js';
import { needs } from './helpers/tools.js';

const skip = needs('paramiko');
const fx = fixture();
let scratch: string;
let keyFile: string;

before(() => {
  scratch = fx.tempDir('jailsftp-hostile-');
  keyFile = join(scratch, 'host-key-1');
});

/** A fresh home, and a working directory inside a sandbox whose other contents we can watch. */
function place(t: TestContext): { home: string; sandbox: string; cwd: string } {
  const sandbox = fixture(t).tempDir('jailsftp-hostile-sandbox-');
  const cwd = join(sandbox, 'work');
  mkdirSync(cwd);
  return { home: scratchHome(fixture(t)), sandbox, cwd };
}

/** Every path under dir (files and directories), relative to dir. */
function walk(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

/** The hostile server in `mode` with the first host key, stopped after the test. */
function hostile(t: TestContext, mode: string): Promise<Hostile> {
  return startHostile(fixture(t), mode, keyFile);
}

function noEscapes(r: RunResult): void {
  assert.ok(!r.stdout.includes('\x1b'), `raw ESC on stdout:\n${JSON.stringify(r.stdout)}`);
  assert.ok(!r.stderr.includes('\x1b'), `raw ESC on stderr:\n${JSON.stringify(r.stderr)}`);
}

function noCrash(r: RunResult): void {
  const all = r.stdout + r.stderr;
  assert.doesNotMatch(all, /^\s+at .*\(?.*\.js:\d+/m, 'a stack trace was printed');
  assert.doesNotMatch(all, /internal error|TypeError|RangeError|ReferenceError/);
}

function skipLine(name: string): string {
  return `skipping suspicious name "${name}"`;
}

describe('hostile names', { skip }, () => {
  test('get -r writes nothing outside its target and skips suspicious names', {}, async (t) => {
    const srv = await hostile(t, 'names');
    const p = place(t);
    const r = await hostileClient(srv, ['get -r /tree out'], p);
    noCrash(r);
    const outside = walk(p.sandbox).filter((f) => f !== 'work' && !f.startsWith('work/out'));
    assert.deepEqual(outside, [], 'files written outside the target directory');
    assert.equal(existsSync(join(p.sandbox, 'work/up.txt')), false);
    assert.deepEqual(readFileSync(join(p.cwd, 'out/ok.txt')), CONTENT);
    assert.deepEqual(readFileSync(join(p.cwd, 'out/sub/ok.txt')), CONTENT);
    const err = r.stderr.split('\n');
    for (const name of ['../up.txt', 'a/b', ''])
      assert.ok(err.includes(skipLine(name)), `no "${skipLine(name)}" line in:\n${r.stderr}`);
    // names with escape sequences are legal file names: downloaded, never echoed raw
    assert.deepEqual(readFileSync(join(p.cwd, 'out', '\x1b[2J')), CONTENT);
    noEscapes(r);
    assert.equal(r.status, 1, 'the command must fail in batch mode');
  });

  test('get -r of a listing with ../up.txt writes nothing next to its target', async (t) => {
    const srv = await hostile(t, 'names');
    const p = place(t);
    const r = await hostileClient(srv, ['get -r /up out'], p);
    noCrash(r);
    assert.equal(existsSync(join(p.cwd, 'up.txt')), false, 'up.txt written next to out');
    assert.deepEqual(walk(p.cwd).sort(), ['out', 'out/ok.txt']);
    assert.deepEqual(readFileSync(join(p.cwd, 'out/ok.txt')), CONTENT);
    assert.match(r.stderr, /^skipping suspicious name "\.\.\/up\.txt"$/m);
    assert.equal(r.status, 1, 'the command must fail in batch mode');
  });

  test(
    'mget * writes nothing outside the local directory and skips suspicious names',
    {},
    async (t) => {
      const srv = await hostile(t, 'names');
      const p = place(t);
      const r = await hostileClient(srv, ['cd /flat', 'mget *'], p);
      noCrash(r);
      const outside = walk(p.sandbox).filter((f) => f !== 'work' && !f.startsWith('work/'));
      assert.deepEqual(outside, [], 'files written outside the local directory');
      assert.deepEqual(readFileSync(join(p.cwd, 'ok.txt')), CONTENT);
      assert.equal(existsSync(join(p.sandbox, 'up.txt')), false);
      assert.ok(r.stderr.split('\n').includes(skipLine('')), `no skip line for "":\n${r.stderr}`);
      for (const l of r.stderr.split('\n').filter((l) => l.startsWith('skipping suspicious')))
        assert.match(l, /^skipping suspicious name "[^\x00-\x1f\x7f]*"$/);
      noEscapes(r);
      assert.equal(r.status, 1, 'the command must fail in batch mode');
    },
  );

  test(
    'ls, ls -l, get of such a name and a server message with escape sequences show \\x1b, never ESC',
    {},
    async (t) => {
      const srv = await hostile(t, 'names');
      const p = place(t);
      const batch = join(p.sandbox, 'batch.txt');
      writeFileSync(batch, 'cd /flat\nls\nls -l\nget "\x1b]0;pwned\x07" esc.out\nget fail.txt\n');
      const r = await hostileClient(srv, [], { ...p, batchFile: batch });
      noCrash(r);
      noEscapes(r);
      assert.match(r.stdout, /^\\x1b\[2J$/m, 'ls shows the name escaped');
      assert.match(r.stdout, / \\x1b\]0;pwned\\x07$/m, 'ls -l shows the name escaped');
      assert.deepEqual(readFileSync(join(p.cwd, 'esc.out')), CONTENT);
      // the server's own error message is shown, escaped, and fails the batch
      assert.match(
        r.stderr,
        /^get: \/flat\/fail\.txt: refused \\x1b\]0;pwned\\x07 by \\x1b\[2J policy$/m,
      );
      assert.equal(r.status, 1, r.stderr);
    },
  );
});

describe('malformed replies fail the command with one clear line', { skip }, () => {
  const partial = CONTENT.subarray(0, 100);
  const cases: [req: string, cmd: string, prefix: RegExp][] = [
    ['stat', 'get /flat/ok.txt', /^get: \/flat\/ok\.txt: \S/],
    ['readdir', 'ls /flat', /^ls: \/flat: \S/],
    ['read', 'get /flat/ok.txt', /^get: \/flat\/ok\.txt: \S/],
    ['checkfile', 'reget /flat/ok.txt', /^reget: \/flat\/ok\.txt: \S/],
  ];
  const checkFileMessage: Record<string, RegExp> = {
    short: /malformed check-file reply \(packet too short\)$/,
    oversized: /the server sent a packet of 67108864 bytes \(at most 262144 allowed\)$/,
    garbage: /malformed check-file reply \(unexpected packet type 238\)$/,
  };
  for (const kind of ['short', 'oversized', 'garbage'])
    for (const [req, cmd, prefix] of cases)
      test(`${kind} reply to ${req}: ${cmd}`, async (t) => {
        const srv = await hostile(t, `${kind}:${req}`);
        const p = place(t);
        if (req === 'checkfile') writeFileSync(join(p.cwd, 'ok.txt'), partial);
        const t0 = Date.now();
        const r = await hostileClient(srv, [cmd, 'pwd'], { ...p, timeoutMs: 20000 });
        assert.ok(Date.now() - t0 < 20000);
        noCrash(r);
        assert.equal(r.status, 1, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
        const errors = r.stderr.split('\n').filter((l) => prefix.test(l));
        assert.equal(errors.length, 1, `one error line expected in:\n${r.stderr}`);
        if (req === 'checkfile') {
          assert.match(errors[0]!, checkFileMessage[kind]!);
          // the partial file is left as it was, ready for a later reget
          assert.deepEqual(readFileSync(join(p.cwd, 'ok.txt')), partial);
        }
        assert.doesNotMatch(r.stdout, /ftp> pwd/, 'the batch stops at the failure');
      });
});

describe('Ctrl-C', { skip }, () => {
  test('interrupts a resume check the server never answers', async (t) => {
    const srv = await hostile(t, 'silent:checkfile');
    const p = place(t);
    const partial = CONTENT.subarray(0, 100);
    writeFileSync(join(p.cwd, 'ok.txt'), partial);
    const c = startHostileClient(fixture(t), srv, ['reget /flat/ok.txt'], p);
    await waitFor(() => c.stdout().includes('ftp> reget'), 20000, 'the reget command');
    // the check-file request is out and will never be answered
    await sleep(700);
    const t0 = Date.now();
    c.proc.kill('SIGINT');
    const status = await exited(c.proc);
    assert.ok(Date.now() - t0 < 5000, 'one Ctrl-C ends the command promptly');
    assert.equal(status, 1, `${c.stdout()}\n${c.stderr()}`);
    assert.match(c.stderr(), /^Interrupted\.$/m);
    assert.doesNotMatch(c.stderr(), /Interrupted twice/);
    assert.deepEqual(readFileSync(join(p.cwd, 'ok.txt')), partial, 'the partial file is kept');
  });
});

describe('wrong digests', { skip }, () => {
  test('get: a wrong sha256sum is a verification failure', async (t) => {
    const srv = await hostile(t, 'wronghash');
    const p = place(t);
    const r = await hostileClient(srv, ['get /flat/ok.txt x.txt'], p);
    noCrash(r);
    assert.equal(r.status, 1);
    const local = join(p.cwd, 'x.txt');
    assert.match(
      r.stderr,
      new RegExp(`^sha256 mismatch: ${local} differs from /flat/ok\\.txt$`, 'm'),
    );
    assert.match(r.stderr, new RegExp(`^get: ${local}: verification failed$`, 'm'));
    assert.doesNotMatch(r.stdout, /sha256 verified/);
  });

  test('put: a wrong sha256sum is a verification failure', async (t) => {
    const srv = await hostile(t, 'wronghash');
    const p = place(t);
    writeFileSync(join(p.cwd, 'up.bin'), 'some bytes to send\n');
    const r = await hostileClient(srv, ['put up.bin /flat/up.bin'], p);
    noCrash(r);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^sha256 mismatch: \/flat\/up\.bin differs from up\.bin$/m);
    assert.match(r.stderr, /^put: \/flat\/up\.bin: verification failed$/m);
    assert.doesNotMatch(r.stdout, /sha256 verified/);
  });

  test('reget: a wrong check-file digest refuses the resume, then the transfer fails verification', async (t) => {
    const srv = await hostile(t, 'wronghash');
    const p = place(t);
    const local = join(p.cwd, 'ok.txt');
    writeFileSync(local, CONTENT.subarray(0, 100));
    const r = await hostileClient(srv, ['reget /flat/ok.txt'], p);
    noCrash(r);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      new RegExp(`^the local part of ${local} does not match /flat/ok\\.txt$`, 'm'),
    );
    assert.match(r.stdout, /^fetching the whole file again$/m);
    assert.match(r.stderr, new RegExp(`^reget: ${local}: verification failed$`, 'm'));
  });
});

describe('host keys', { skip }, () => {
  test('a changed host key is refused and nothing is transferred', async (t) => {
    const p = place(t);
    const kh = join(p.home, '.jailsftp/known_hosts');
    const first = await hostile(t, 'plain');
    const trusted = await hostileClient(first, ['pwd'], p);
    assert.equal(trusted.status, 0, trusted.stderr);
    const remembered = readFileSync(kh, 'utf8');
    /** Remembers the first server's key for srv's address, then gets a file from srv. */
    const getFrom = (srv: Hostile): Promise<RunResult> => {
      writeFileSync(kh, remembered.replace(`:${first.port} `, `:${srv.port} `));
      return hostileClient(srv, ['get /flat/ok.txt'], p);
    };
    // control: a server with the same key is trusted at that address
    const same = await hostile(t, 'plain');
    const ok = await getFrom(same);
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(readFileSync(join(p.cwd, 'ok.txt')), CONTENT);
    rmSync(join(p.cwd, 'ok.txt'));
    const changed = await startHostile(fixture(t), 'plain', join(scratch, 'host-key-2'));
    const r = await getFrom(changed);
    noCrash(r);
    assert.equal(r.status, 255);
    assert.match(r.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
    assert.match(r.stderr, /known_hosts:1/);
    assert.doesNotMatch(r.stdout, /Login successful/);
    assert.deepEqual(walk(p.cwd), [], 'nothing transferred');
    assert.equal(
      readFileSync(kh, 'utf8'),
      remembered.replace(`:${first.port} `, `:${changed.port} `),
      'known_hosts unchanged',
    );
  });
});

// Integrity: check-file-name/check-file-handle against Python's hashlib, exec sha256sum/sha1sum/md5sum
// against coreutils, and rclone using those commands for md5sum, sha1sum, check and --checksum.
import test, { before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { fixture } from './helpers/fixture.js';
import type { TestServer, TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import { rcloneEnv, sshKey } from './helpers/clients.js';
import { sha256 } from './helpers/files.js';
import { pyAs, run, type Run } from './helpers/run.js';
import { Status } from '../common/wire.js';

const fx = fixture();
let srv: TestServer;
let u: TestUser;
let local: string;
const DATA = Buffer.alloc(1_000_003);

before(async () => {
  srv = await fx.server();
  u = srv.addUser('alice', { key: true });
  mkdirSync(join(u.home, 'sub'), { recursive: true });
  for (let i = 0; i < DATA.length; i++) DATA[i] = (i * 131 + (i >> 9)) & 0xff;
  writeFileSync(join(u.home, 'data.bin'), DATA);
  writeFileSync(join(u.home, 'sub', 'my file.txt'), 'hello world\n');
  local = fx.tempDir('jailsftp-integrity-');
});

/** ssh exec of one command line (OpenSSH sends it as one string). */
function exec(command: string, input = ''): Promise<Run> {
  return sshKey(srv, u, [command], { extra: ['-T'], input });
}

/** What coreutils prints for the same command, run in the home (paths relative to it). */
function coreutils(cmd: string, args: string[]): { stdout: string; status: number | null } {
  const r = spawnSync(cmd, args, { cwd: u.home, encoding: 'utf8' });
  return { stdout: r.stdout, status: r.status };
}

test(
  'check-file-name and check-file-handle equal hashlib: md5, sha1, sha256, sha512, ranges, blocks',
  { skip: needs('paramiko') },
  async () => {
    const { r, lines } = await pyAs('ext_ops.py', srv, u, [
      'checkfile',
      'data.bin',
      join(u.home, 'data.bin'),
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(lines.length, 4 * 2 * 5);
    for (const l of lines) {
      const got = l.got as { ext: string; alg: string; hex: string };
      assert.equal(got.ext, 'check-file', JSON.stringify(l));
      assert.equal(got.alg, l.alg);
      assert.equal(got.hex, l.want, JSON.stringify(l));
    }
    // and against node's own sha256 for the whole file
    const whole = lines.find(
      (l) => l.alg === 'sha256' && l.block === 0 && l.offset === 0 && l.length === 0,
    );
    assert.equal((whole!.got as { hex: string }).hex, sha256(DATA));
    // 4096 bytes in 256-byte blocks: 16 digests
    const blocks = lines.find((l) => l.alg === 'md5' && l.block === 256);
    assert.equal((blocks!.got as { hex: string }).hex.length, 16 * 32);
  },
);

test(
  'check-file errors: algorithm choice, block size, missing and outside paths',
  { skip: needs('paramiko') },
  async () => {
    const { r, lines } = await pyAs('ext_ops.py', srv, u, ['checkfile-errors', 'data.bin']);
    assert.equal(r.status, 0, r.stderr);
    const by = Object.fromEntries(lines.map((l) => [l.case, l.r as Record<string, unknown>]));
    assert.equal(by['first supported of a list']!.alg, 'sha256');
    assert.equal(by['first supported of a list']!.hex, sha256(DATA));
    assert.deepEqual(by['unsupported only'], {
      code: Status.OP_UNSUPPORTED,
      message: 'no supported hash in crc32',
    });
    assert.deepEqual(by['block 100'], {
      code: Status.FAILURE,
      message: 'block size must be 0 or >= 256',
    });
    assert.equal(by.missing!.code, Status.NO_SUCH_FILE);
    assert.deepEqual(by.outside, by.missing, 'outside answers like missing');
  },
);

test(
  'exec sha256sum, sha1sum, md5sum print what coreutils prints',
  { skip: needs('sftp') },
  async () => {
    for (const cmd of ['sha256sum', 'sha1sum', 'md5sum']) {
      const r = await exec(`${cmd} data.bin 'sub/my file.txt'`);
      assert.equal(r.status, 0, r.stderr);
      const want = coreutils(cmd, ['data.bin', 'sub/my file.txt']);
      assert.equal(r.stdout, want.stdout);
      // absolute jail paths: "<hex>  /data.bin"
      const a = await exec(`${cmd} /data.bin`);
      assert.equal(
        a.stdout,
        want.stdout.split('\n')[0]!.replace('  data.bin', '  /data.bin') + '\n',
      );
      // stdin, as rclone's probe sends it
      const s = await exec(cmd, 'abc');
      const c = spawnSync(cmd, [], { input: 'abc', encoding: 'utf8' });
      assert.equal(s.stdout, c.stdout);
      assert.equal(s.status, 0);
    }
  },
);

test(
  'exec hash commands escape names with a backslash or newline as coreutils does',
  { skip: needs('sftp') },
  async () => {
    // in a directory of their own: rclone's filters do not exclude a name with a newline
    mkdirSync(join(u.home, 'esc'));
    writeFileSync(join(u.home, 'esc', 'back\\slash'), 'b');
    writeFileSync(join(u.home, 'esc', 'new\nline'), 'n');
    const r = await exec(`sha256sum 'esc/back\\slash' 'esc/new\nline' data.bin`);
    assert.equal(r.status, 0, r.stderr);
    const want = coreutils('sha256sum', ['esc/back\\slash', 'esc/new\nline', 'data.bin']);
    assert.equal(r.stdout, want.stdout);
    assert.match(r.stdout, /^\\[0-9a-f]{64} {2}esc\/back\\\\slash$/m);
  },
);

test(
  'exec hash commands: missing and outside paths exit 1 with a message; no shell',
  { skip: needs('sftp') },
  async () => {
    const m = await exec('sha256sum nope.bin');
    assert.equal(m.status, 1, JSON.stringify(m));
    assert.equal(m.stdout, '');
    assert.match(m.stderr, /^sha256sum: nope\.bin: No such file or directory$/m);
    for (const p of ['/etc/passwd', '../../../../etc/passwd', '..']) {
      const o = await exec(`md5sum ${p}`);
      assert.equal(o.status, 1, `${p}: ${JSON.stringify(o)}`);
      assert.equal(o.stdout, '', p);
      assert.match(o.stderr, /No such file or directory|Is a directory/, p);
    }
    // one good, one missing: the good one is printed, exit 1
    const mix = await exec('sha1sum data.bin nope');
    assert.equal(mix.status, 1, JSON.stringify(mix));
    assert.equal(mix.stdout, coreutils('sha1sum', ['data.bin']).stdout);
    const sh = await exec('sha256sum data.bin; cat /etc/passwd');
    assert.equal(sh.status, 1, JSON.stringify(sh));
    assert.equal(sh.stdout, '');
    assert.match(sh.stderr, /only offers SFTP/);
  },
);

function rclone(args: string[]): Promise<Run> {
  return run('rclone', [...args, '-vv'], { env: rcloneEnv(srv, u) });
}

test(
  'rclone detects the hash commands and uses them: md5sum, sha1sum, check, copy --checksum',
  { skip: needs('rclone') },
  async () => {
    const md5 = await rclone(['md5sum', 'j:sub']);
    assert.equal(md5.status, 0, md5.stderr);
    assert.match(
      md5.stderr,
      /Running remote command: md5sum\n.*Remote command result: d41d8cd98f00b204e9800998ecf8427e {2}-\n.*Hash command accepted/,
    );
    assert.match(md5.stderr, /Setting hash command for md5 to "md5sum"/);
    assert.equal(md5.stdout, coreutils('md5sum', ['sub/my file.txt']).stdout.replace('sub/', ''));
    const sha1 = await rclone(['sha1sum', 'j:', '--max-depth', '1', '--include', 'data.bin']);
    assert.equal(sha1.status, 0, sha1.stderr);
    assert.equal(sha1.stdout, coreutils('sha1sum', ['data.bin']).stdout);

    // copy a tree up, then check it
    const tree = join(local, 'tree');
    mkdirSync(join(tree, 'd'), { recursive: true });
    writeFileSync(join(tree, 'a.txt'), 'alpha\n'.repeat(1000));
    writeFileSync(join(tree, 'd', 'b.bin'), DATA.subarray(0, 300_000));
    const up = await rclone(['copy', tree, 'j:tree']);
    assert.equal(up.status, 0, up.stderr);
    const ok = await rclone(['check', tree, 'j:tree']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /Using md5 for hash comparisons/);
    assert.match(ok.stderr, /0 differences found/);
    assert.match(ok.stderr, /2 matching files/);

    // same size, same time, other bytes: only the hash can see it
    const b = join(u.home, 'tree', 'd', 'b.bin');
    const changed = Buffer.from(DATA.subarray(0, 300_000));
    changed[150_000] ^= 0xff;
    writeFileSync(b, changed);
    utimesSync(b, new Date(), new Date());
    const bad = await rclone(['check', tree, 'j:tree']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /1 differences found/);
    const t = new Date('2024-01-02T03:04:05Z');
    utimesSync(b, t, t);
    utimesSync(join(tree, 'd', 'b.bin'), t, t);
    const cp = await rclone(['copy', '--checksum', tree, 'j:tree']);
    assert.equal(cp.status, 0, cp.stderr);
    assert.match(cp.stderr, /b\.bin: Copied \(replaced existing\)/);
    assert.equal(
      sha256(Buffer.from(spawnSync('cat', [b]).stdout)),
      sha256(DATA.subarray(0, 300_000)),
    );
    const again = await rclone(['check', tree, 'j:tree']);
    assert.equal(again.status, 0, again.stderr);
  },
);

// The client against OpenSSH's sshd (internal-sftp): everything that needs no jailsftp extension works,
// and transfers say they could not be verified instead of failing.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, statSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fixture } from './helpers/fixture.js';
import { keyPairFile } from './helpers/keys.js';
import { freePort } from './helpers/proc.js';
import { needs } from './helpers/tools.js';
import { runClient, scratchHome } from './helpers/jailsftp.js';
import { randomFile, sha256File } from './helpers/files.js';

const skip =
  needs('sshd') ||
  (process.getuid?.() !== 0 ? 'sshd tests need root (sshd must switch users)' : false);
const fx = fixture();
let dir: string;
let start: string;
let keyFile: string;
let port: number;
let sshd: ChildProcess | undefined;
let home: string;

before(async () => {
  if (skip) return;
  dir = fx.tempDir('jailsftp-sshd-');
  start = join(dir, 'start');
  mkdirSync(start);
  keyPairFile(join(dir, 'host_ed25519'));
  keyFile = join(dir, 'user_ed25519');
  const user = keyPairFile(keyFile);
  writeFileSync(join(dir, 'authorized_keys'), user.public + '\n');
  port = await freePort();
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${dir}/host_ed25519`,
      `PidFile ${dir}/sshd.pid`,
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      'StrictModes no',
      'Subsystem sftp internal-sftp',
      `ForceCommand internal-sftp -d ${start}`,
      '',
    ].join('\n'),
  );
  mkdirSync('/run/sshd', { recursive: true });
  sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  fx.defer(() => sshd?.kill('SIGTERM'));
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`sshd did not start: ${log}`)), 10000);
    sshd!.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (/Server listening/.test(log)) {
        clearTimeout(t);
        resolve();
      }
    });
    sshd!.on('exit', () => reject(new Error(`sshd exited: ${log}`)));
  });
  home = scratchHome(fx);
});

function client(cmds: string) {
  return runClient(['-P', String(port), '-i', keyFile, '--yes', '-c', cmds, 'root@127.0.0.1'], {
    home,
  });
}

test(
  'OpenSSH sshd: the command set works; transfers say they could not verify',
  { skip },
  async () => {
    const sum = randomFile(join(home, 'f.bin'), 2 * 1024 * 1024 + 5);
    const r = await client(
      'pwd; ls; mkdir d; cd d; put f.bin; ls -l; get f.bin back.bin; rename f.bin g.bin; chmod 600 g.bin; ls; df; rm g.bin; cd ..; rmdir d; ls',
    );
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.split('\n');
    const after = (c: string): string | undefined => out[out.indexOf(`ftp> ${c}`) + 1];
    assert.equal(after('pwd'), start);
    assert.equal(after('ls'), 'Command return empty!');
    assert.equal(after('cd d'), `${start}/d`);
    assert.match(
      after('put f.bin')!,
      /f\.bin -> .*\/d\/f\.bin: .*could not verify \(the server offers no sha256sum\)$/,
    );
    assert.match(after('ls -l')!, /^-rw-r--r-- +2097157 .* f\.bin$/);
    assert.match(after('get f.bin back.bin')!, /could not verify/);
    assert.match(after('df')!, /Size +Used +Avail +Use%/);
    assert.equal(out[out.length - 2], 'Command return empty!');
    assert.equal(sha256File(join(home, 'back.bin')), sum);
    assert.equal(existsSync(join(start, 'd')), false);
  },
);

test('OpenSSH sshd: put and get resume without a prefix check, and say so', { skip }, async () => {
  const sum = randomFile(join(home, 'r.bin'), 4 * 1024 * 1024);
  const r = await client('put r.bin');
  assert.equal(r.status, 0, r.stderr);
  truncateSync(join(start, 'r.bin'), 1024 * 1024);
  const r2 = await client('put r.bin');
  assert.equal(r2.status, 0, r2.stderr);
  assert.match(r2.stdout, /is partial: 1\.0 MiB of 4\.0 MiB \(25%\)\. Resuming\./);
  assert.match(r2.stdout, /could not verify the remote part .*resuming anyway/);
  assert.match(r2.stdout, /r\.bin -> .*r\.bin: 3\.0 MiB in /);
  assert.equal(sha256File(join(start, 'r.bin')), sum);
  truncateSync(join(home, 'r.bin'), 3 * 1024 * 1024);
  const r3 = await client('reget r.bin');
  assert.equal(r3.status, 0, r3.stderr);
  assert.match(r3.stdout, /could not verify the local part/);
  assert.equal(sha256File(join(home, 'r.bin')), sum);
  assert.equal(statSync(join(home, 'r.bin')).size, 4 * 1024 * 1024);
});

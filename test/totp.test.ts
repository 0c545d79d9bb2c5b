// The TOTP second factor (issue 13): `user totp NAME enable` prints a URI otpauth reads back; a
// TOTP user logs in with a key or password and then the code (keyboard-interactive), with OpenSSH
// sftp, PuTTY psftp and our client; wrong and replayed codes are refused.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Secret, TOTP, URI } from 'otpauth';
import { fixture } from './helpers/fixture.js';
import type { TestServer, TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import { sftpKeyCode, SSH_COMMON } from './helpers/clients.js';
import { pyRun, run, type Run } from './helpers/run.js';
import { CLIENT, clientEnv, runClient, scratchHome } from './helpers/jailsftp.js';

/** The code for the user's secret (from the record), `steps` periods from now. */
function code(srv: TestServer, user: string, steps = 0): string {
  const r = JSON.parse(readFileSync(join(srv.usersDir, `${user}.json`), 'utf8')) as {
    totp: { secret: string };
  };
  const secret = Secret.fromBase32(r.totp.secret);
  return TOTP.generate({ secret, timestamp: Date.now() + steps * 30000 });
}

/** OpenSSH sftp with the key alone (no keyboard-interactive). */
function sftpKeyOnly(srv: TestServer, u: TestUser): Promise<Run> {
  return run(
    'sftp',
    [
      ...SSH_COMMON,
      ...['-o', 'IdentitiesOnly=yes', '-i', u.keyFile!],
      ...['-o', 'PreferredAuthentications=publickey', '-P', String(srv.port), '-b', '-'],
      `${u.name}@${srv.host}`,
    ],
    { input: 'pwd\n', timeoutMs: 30000 },
  );
}

/** A command on a pseudo-terminal, its prompts answered in order (test/py/pty_answer.py). */
function onPty(answers: string[], cmd: string[], env?: Record<string, string>): Promise<Run> {
  return pyRun('pty_answer.py', ['40', ...answers, '--', ...cmd], { timeoutMs: 50000, env });
}

test('TOTP second factor', { skip: needs('sftp', 'sshpass') }, async (t) => {
  const fx = fixture(t);
  const srv = await fx.server({
    users: {
      ann: { key: true, home: true },
      bob: { password: 'bob-secret', home: true },
      carol: { key: true, home: true },
      dave: { key: true, home: true },
    },
  });
  const { ann, bob, carol, dave } = srv.users;

  await t.test('enable prints a URI that otpauth parses back; show says on', () => {
    const r = srv.cli(['user', 'totp', 'ann', 'enable']);
    assert.equal(r.status, 0, r.stderr);
    const uri = r.stdout.split('\n').find((l) => l.startsWith('otpauth://totp/'));
    assert.ok(uri, r.stdout);
    const otp = URI.parse(uri);
    assert.ok(otp instanceof TOTP);
    assert.equal(otp.issuer, 'jailsftp');
    assert.equal(otp.label, 'ann');
    assert.equal(otp.algorithm, 'SHA1');
    assert.equal(otp.digits, 6);
    assert.equal(otp.period, 30);
    assert.equal(otp.generate(), code(srv, 'ann'));
    assert.match(r.stdout, /[▀▄█]/, 'a QR code for the terminal');
    const show = srv.cli(['user', 'show', 'ann']);
    assert.match(show.stdout, /^totp:\s+on/m);
    assert.ok(!show.stdout.includes(otp.secret.base32), 'show never prints the secret');
    for (const u of ['bob', 'carol', 'dave'])
      assert.equal(srv.cli(['user', 'totp', u, 'enable']).status, 0);
  });

  await t.test('OpenSSH: the key alone is not enough', async () => {
    const r = await sftpKeyOnly(srv, ann);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Permission denied/);
  });

  let used = '';
  await t.test('OpenSSH: key then the right code logs in', async () => {
    used = code(srv, 'ann');
    const r = await sftpKeyCode(srv, ann, used);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Remote working directory: \//);
    assert.match(srv.output(), /login user=ann addr=\S+ method=publickey\+totp/);
  });

  await t.test('OpenSSH: the same code again (replay) is refused', async () => {
    const r = await sftpKeyCode(srv, ann, used);
    assert.notEqual(r.status, 0);
    assert.doesNotMatch(r.stdout, /Remote working directory/);
  });

  await t.test('OpenSSH: a wrong code is refused and counts as a failure', async () => {
    const r = await sftpKeyCode(srv, ann, code(srv, 'ann', 5));
    assert.notEqual(r.status, 0);
    assert.doesNotMatch(r.stdout, /Remote working directory/);
    assert.match(srv.output(), /login\.failed user=ann addr=\S+ method=publickey\+totp/);
  });

  await t.test('PuTTY psftp: password then code (keyboard-interactive)', async (t2) => {
    const skip = needs('psftp');
    if (skip) return t2.skip(skip);
    const hk = srv.cli(['hostkey', '--host-keys', srv.keysDir]);
    const hostKeys = hk.stdout
      .trim()
      .split('\n')
      .flatMap((l) => ['-hostkey', l.split(' ')[1]!]);
    const batch = join(srv.dir, 'bob.batch');
    writeFileSync(batch, 'pwd\nquit\n');
    const psftp = (c: string): Promise<Run> =>
      onPty(
        ['assword:', bob.password, 'Verification code:', c],
        ['psftp', ...hostKeys, '-P', String(srv.port), '-b', batch, `bob@${srv.host}`],
      );
    const ok = await psftp(code(srv, 'bob'));
    assert.equal(ok.status, 0, ok.stdout);
    assert.match(ok.stdout, /Remote directory is \//);
    assert.match(srv.output(), /login user=bob addr=\S+ method=keyboard-interactive\+totp/);
    const bad = await psftp(code(srv, 'bob', -5));
    assert.equal(bad.status, 125, bad.stdout);
    assert.match(bad.stdout, /Verification code:[^]*\[asked again\]/);
    assert.doesNotMatch(bad.stdout, /Remote directory is \//);
  });

  await t.test('our client: the code from JAILSFTP_TOTP; a wrong one fails', async () => {
    const home = scratchHome(fx);
    const args = ['--yes', '-P', String(srv.port), '-i', carol.keyFile!, '-c', 'pwd'];
    const bad = await runClient([...args, `carol@${srv.host}`], {
      home,
      env: { JAILSFTP_TOTP: code(srv, 'carol', 5) },
    });
    assert.equal(bad.status, 255);
    assert.match(bad.stderr, /^Login failed!$/m);
    const ok = await runClient([...args, `carol@${srv.host}`], {
      home,
      env: { JAILSFTP_TOTP: code(srv, 'carol') },
    });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /Login successful!\nftp> pwd\n\/\n/);
    // a password first (bob: the step after psftp's, which the window still accepts)
    const pw = await runClient(['--yes', '-P', String(srv.port), '-c', 'pwd', `bob@${srv.host}`], {
      home,
      env: { JAILSFTP_PASSWORD: bob.password, JAILSFTP_TOTP: code(srv, 'bob', 1) },
    });
    assert.equal(pw.status, 0, pw.stderr);
    assert.match(srv.output(), /login user=bob addr=\S+ method=password\+totp/);
    const none = await runClient([...args, `carol@${srv.host}`], { home });
    assert.equal(none.status, 255);
    assert.match(none.stderr, /verification code: set JAILSFTP_TOTP/);
  });

  await t.test('our client: asks "Verification code:" on a terminal', async () => {
    const home = scratchHome(fx);
    const env = clientEnv(home) as Record<string, string>;
    const r = await onPty(
      ['Verification code:', code(srv, 'dave'), 'ftp>', 'pwd', 'ftp>', 'bye'],
      [
        process.execPath,
        CLIENT,
        '--yes',
        '-P',
        String(srv.port),
        '-i',
        dave.keyFile!,
        `dave@${srv.host}`,
      ],
      env,
    );
    assert.equal(r.status, 0, r.stdout);
    assert.match(r.stdout, /Login successful!/);
    assert.match(r.stdout, /pwd\r*\n\/\r?\n/);
  });

  await t.test('disable: the key alone logs in again', async () => {
    const r = srv.cli(['user', 'totp', 'ann', 'disable']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(srv.cli(['user', 'show', 'ann']).stdout, /^totp:\s+off/m);
    const s = await sftpKeyOnly(srv, ann);
    assert.equal(s.status, 0, s.stderr);
  });
});

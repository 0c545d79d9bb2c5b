// Authentication and what the SSH layer refuses: one answer for every failed login, keyboard-
// interactive, the attempt limit, the login timeout, shell/pty/exec refusals and port forwarding.
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { useServer } from './helpers/fixture.js';
import type { TestServer, TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import { sftpPassword, sshKey } from './helpers/clients.js';
import type { Run } from './helpers/run.js';
import { generateKeyPair } from '../server/ssh/hostkeys.js';

/** ssh with a key only, as a user would script it: `extra` follows the destination. */
function sshWithKey(srv: TestServer, user: string, keyFile: string, extra: string[]): Promise<Run> {
  return sshKey(srv, { name: user, keyFile }, extra, {
    extra: [
      ...['-o', 'ConnectTimeout=20', '-o', 'BatchMode=yes'],
      ...['-o', 'PreferredAuthentications=publickey'],
    ],
  });
}

/** sftp with a password and one prompt, listing the home. */
function sftpLogin(srv: TestServer, user: string, password: string): Promise<Run> {
  return sftpPassword(srv, { name: user, password }, 'ls\n', {
    extra: ['-o', 'NumberOfPasswordPrompts=1', '-o', 'ConnectTimeout=20'],
  });
}

type Attempt = { type: 'password'; password: string } | { type: 'kbd'; answer: string };

/**
 * Connects with ssh2 and offers the given attempts one after the other. Resolves with how the
 * connection ended and how many attempts the server asked for.
 */
function ssh2Login(
  srv: TestServer,
  user: string,
  attempts: Attempt[],
): Promise<{ result: 'ready' | 'error' | 'closed'; message: string; offered: number }> {
  return new Promise((res) => {
    const c = new ssh2.Client();
    let offered = 0;
    let done = false;
    const finish = (result: 'ready' | 'error' | 'closed', message: string): void => {
      if (done) return;
      done = true;
      c.end();
      res({ result, message, offered });
    };
    c.on('ready', () => finish('ready', ''));
    c.on('error', (e) => finish('error', e.message));
    c.on('close', () => finish('closed', ''));
    c.connect({
      host: srv.host,
      port: srv.port,
      username: user,
      readyTimeout: 60_000,
      authHandler: (_methods, _partial, next) => {
        const a = attempts[offered++];
        if (!a) return next(false as unknown as ssh2.AnyAuthMethod);
        if (a.type === 'password')
          return next({ type: 'password', username: user, password: a.password });
        return next({
          type: 'keyboard-interactive',
          username: user,
          prompt: (_n, _i, _l, prompts, answer) => answer(prompts.map(() => a.answer)),
        });
      },
    });
  });
}

test('authentication', { skip: needs('sftp', 'sshpass') }, async (t) => {
  const srv = await useServer(t);
  const u: TestUser = srv.addUser('alma', { key: true, password: 'right password' });
  const other = srv.addUser('olga', { key: true });
  const stranger = join(srv.dir, 'stranger');
  // a key no user has, in OpenSSH format
  writeFileSync(stranger, generateKeyPair('ed25519').private, { mode: 0o600 });

  await t.test('wrong password, unknown user, wrong key: the same answer', async () => {
    const wrongPw = await sftpLogin(srv, 'alma', 'wrong password');
    const unknown = await sftpLogin(srv, 'nobody-here', 'right password');
    const wrongKey = await sshWithKey(srv, 'alma', stranger, ['true']);
    const otherKey = await sshWithKey(srv, 'alma', other.keyFile!, ['true']); // olga's key for alma
    const unknownKey = await sshWithKey(srv, 'nobody-here', u.keyFile!, ['true']);
    const denied =
      /^[\w-]+@127\.0\.0\.1: Permission denied \(publickey,password,keyboard-interactive\)\.\r?\n/;
    for (const [label, r] of [
      ['wrong password', wrongPw],
      ['unknown user', unknown],
      ['wrong key', wrongKey],
      ["another user's key", otherKey],
      ['unknown user with a key', unknownKey],
    ] as const) {
      assert.equal(r.status, 255, `${label}: ${r.stderr}`);
      assert.match(r.stderr.replace(/^.*Connection closed.*\n/m, ''), denied, label);
    }
    const strip = (s: string): string => s.replace(/^[\w-]+@/, '');
    assert.equal(strip(wrongPw.stderr), strip(unknown.stderr));
    assert.equal(strip(wrongKey.stderr), strip(unknownKey.stderr));
    // and the right ones work
    const good = await sftpLogin(srv, 'alma', 'right password');
    assert.equal(good.status, 0, good.stderr);
    const goodKey = await sshWithKey(srv, 'alma', u.keyFile!, ['sha256sum', '/nothing']);
    assert.match(goodKey.stderr, /sha256sum: \/nothing: No such file or directory/);
  });

  await t.test('keyboard-interactive carries the password', async () => {
    const ok = await ssh2Login(srv, 'alma', [{ type: 'kbd', answer: 'right password' }]);
    assert.equal(ok.result, 'ready', ok.message);
    const bad = await ssh2Login(srv, 'alma', [{ type: 'kbd', answer: 'nope' }]);
    assert.equal(bad.result, 'error');
    assert.match(bad.message, /All configured authentication methods failed/);
    const ghost = await ssh2Login(srv, 'ghost', [{ type: 'kbd', answer: 'right password' }]);
    assert.equal(ghost.message, bad.message);
  });

  await t.test('6 attempts per connection, then the server disconnects', async () => {
    const many: Attempt[] = Array.from({ length: 10 }, (_, i) =>
      i % 2 ? { type: 'password', password: `bad${i}` } : { type: 'kbd', answer: `bad${i}` },
    );
    // a user name of its own, so that the per-(address,user) delays stay small
    const r = await ssh2Login(srv, 'attempts-user', many);
    assert.notEqual(r.result, 'ready');
    // the server checked 6 attempts, then ended the connection (the client may have had a 7th
    // ready when the failure of the 6th arrived: the server never looked at it)
    const tried = [...srv.output().matchAll(/login\.failed user=attempts-user .*attempt=(\d+)/g)];
    assert.deepEqual(
      tried.map((m) => Number(m[1])),
      [1, 2, 3, 4, 5, 6],
    );
    assert.ok(r.offered <= 7, `the client offered ${r.offered} attempts`);
    // the right password after the disconnect still works for a real user
    const ok = await ssh2Login(srv, 'alma', [{ type: 'password', password: 'right password' }]);
    assert.equal(ok.result, 'ready');
  });

  await t.test('shell, pty, other commands and subsystems are refused with a message', async () => {
    const msg =
      /^jailsftpd: this server only offers SFTP \(and sha256sum, sha1sum, md5sum of a file\)\r?\n$/;
    const shell = await sshWithKey(srv, 'alma', u.keyFile!, []);
    assert.equal(shell.status, 1);
    assert.match(shell.stderr, msg);
    const pty = await sshWithKey(srv, 'alma', u.keyFile!, ['-tt']);
    assert.equal(pty.status, 1, pty.stderr);
    assert.match(pty.stderr, msg);
    const cmd = await sshWithKey(srv, 'alma', u.keyFile!, ['cat', '/etc/passwd']);
    assert.equal(cmd.status, 1);
    assert.match(cmd.stderr, msg);
    assert.doesNotMatch(cmd.stdout, /root:/);
    const inject = await sshWithKey(srv, 'alma', u.keyFile!, ['sha256sum /x; cat /etc/passwd']);
    assert.equal(inject.status, 1);
    assert.match(inject.stderr, msg);
    const ptyCmd = await sshWithKey(srv, 'alma', u.keyFile!, ['-tt', 'id']);
    assert.equal(ptyCmd.status, 1);
    assert.match(ptyCmd.stderr, msg);
    const sub = await sshWithKey(srv, 'alma', u.keyFile!, ['-s', 'netconf']);
    assert.equal(sub.status, 255);
    assert.match(sub.stderr, /subsystem request failed/);
  });

  await t.test('port forwarding is refused', async () => {
    const stdio = await sshWithKey(srv, 'alma', u.keyFile!, ['-W', `127.0.0.1:${srv.port}`]);
    assert.equal(stdio.status, 255);
    assert.match(stdio.stderr, /stdio forwarding failed/);
    const remote = await sshWithKey(srv, 'alma', u.keyFile!, [
      ...['-o', 'ExitOnForwardFailure=yes', '-R', '0:127.0.0.1:9', '-N'],
    ]);
    assert.equal(remote.status, 255);
    assert.match(remote.stderr, /remote port forwarding failed/);
    // direct-tcpip through ssh2 (what -L does for each connection)
    const c = new ssh2.Client();
    await new Promise<void>((res, rej) => {
      c.on('ready', res).on('error', rej);
      c.connect({ host: srv.host, port: srv.port, username: 'alma', privateKey: u.privateKey });
    });
    const err = await new Promise<Error | undefined>((res) =>
      c.forwardOut('127.0.0.1', 1234, '127.0.0.1', srv.port, (e) => res(e)),
    );
    assert.match(String(err?.message), /open failure|prohibited/i);
    c.end();
  });
});

test('login timeout', async (t) => {
  // config `limits` replaces only the keys given
  const srv = await useServer(t, { config: { limits: { loginTimeout: 2 } } });
  srv.addUser('slow', { password: 'slow' });
  const silentFor = (send: string): Promise<number> =>
    new Promise((res) => {
      const t0 = Date.now();
      const s = tcpConnect(srv.port, srv.host, () => {
        if (send) s.write(send);
      });
      s.on('data', () => undefined);
      s.on('error', () => undefined);
      s.on('close', () => res(Date.now() - t0));
    });
  // a client that sends nothing, and one that stops after its version line
  const [silent, stalled] = await Promise.all([silentFor(''), silentFor('SSH-2.0-stall\r\n')]);
  for (const ms of [silent, stalled]) {
    assert.ok(ms >= 1800, `closed after ${ms} ms, before the timeout`);
    assert.ok(ms < 8000, `still open after ${ms} ms`);
  }
  assert.match(srv.output(), /connection\.login_timeout/);
  // a client that logs in in time stays connected past the timeout
  const c = new ssh2.Client();
  await new Promise<void>((res, rej) => {
    c.on('ready', res).on('error', rej);
    c.connect({ host: srv.host, port: srv.port, username: 'slow', password: 'slow' });
  });
  let closed = false;
  c.on('close', () => (closed = true));
  await new Promise((r) => setTimeout(r, 3500));
  assert.equal(closed, false, 'an authenticated connection was closed by the login timeout');
  c.end();
});

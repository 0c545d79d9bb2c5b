// Authentication and what the SSH layer refuses: one answer for every failed login, keyboard-
// interactive, the attempt limit, the login timeout, shell/pty/exec refusals and port forwarding.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { startServer, type TestServer, type TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sh(cmd: string, args: string[], input = ''): Promise<Run> {
  return new Promise((res) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(t);
      res({ code, stdout, stderr });
    });
    p.stdin.end(input);
  });
}

const SSH_OPTS = (srv: TestServer): string[] => [
  ...['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'],
  ...['-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=20', '-p', String(srv.port)],
];

function sshKey(srv: TestServer, user: string, keyFile: string, extra: string[]): Promise<Run> {
  return sh('ssh', [
    ...SSH_OPTS(srv),
    ...['-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-i', keyFile],
    ...['-o', 'PreferredAuthentications=publickey'],
    `${user}@${srv.host}`,
    ...extra,
  ]);
}

function sftpPassword(srv: TestServer, user: string, password: string): Promise<Run> {
  return sh(
    'sshpass',
    [
      '-p',
      password,
      'sftp',
      ...SSH_OPTS(srv).map((o) => (o === '-p' ? '-P' : o)),
      ...['-o', 'BatchMode=no', '-o', 'PubkeyAuthentication=no'],
      ...['-o', 'PreferredAuthentications=password', '-o', 'NumberOfPasswordPrompts=1'],
      '-b',
      '-',
      `${user}@${srv.host}`,
    ],
    'ls\n',
  );
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
  const srv = await startServer();
  t.after(async () => {
    await srv.stop();
    srv.cleanup();
  });
  const u: TestUser = srv.addUser('alma', { key: true, password: 'right password' });
  const other = srv.addUser('olga', { key: true });
  const stranger = join(srv.dir, 'stranger');
  // a key no user has, in OpenSSH format
  writeFileSync(stranger, ssh2.utils.generateKeyPairSync('ed25519').private, { mode: 0o600 });

  await t.test('wrong password, unknown user, wrong key: the same answer', async () => {
    const wrongPw = await sftpPassword(srv, 'alma', 'wrong password');
    const unknown = await sftpPassword(srv, 'nobody-here', 'right password');
    const wrongKey = await sshKey(srv, 'alma', stranger, ['true']);
    const otherKey = await sshKey(srv, 'alma', other.keyFile!, ['true']); // olga's key for alma
    const unknownKey = await sshKey(srv, 'nobody-here', u.keyFile!, ['true']);
    const denied =
      /^[\w-]+@127\.0\.0\.1: Permission denied \(publickey,password,keyboard-interactive\)\.\r?\n/;
    for (const [label, r] of [
      ['wrong password', wrongPw],
      ['unknown user', unknown],
      ['wrong key', wrongKey],
      ["another user's key", otherKey],
      ['unknown user with a key', unknownKey],
    ] as const) {
      assert.equal(r.code, 255, `${label}: ${r.stderr}`);
      assert.match(r.stderr.replace(/^.*Connection closed.*\n/m, ''), denied, label);
    }
    const strip = (s: string): string => s.replace(/^[\w-]+@/, '');
    assert.equal(strip(wrongPw.stderr), strip(unknown.stderr));
    assert.equal(strip(wrongKey.stderr), strip(unknownKey.stderr));
    // and the right ones work
    const good = await sftpPassword(srv, 'alma', 'right password');
    assert.equal(good.code, 0, good.stderr);
    const goodKey = await sshKey(srv, 'alma', u.keyFile!, ['sha256sum', '/nothing']);
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
    const shell = await sshKey(srv, 'alma', u.keyFile!, []);
    assert.equal(shell.code, 1);
    assert.match(shell.stderr, msg);
    const pty = await sshKey(srv, 'alma', u.keyFile!, ['-tt']);
    assert.equal(pty.code, 1, pty.stderr);
    assert.match(pty.stderr, msg);
    const cmd = await sshKey(srv, 'alma', u.keyFile!, ['cat', '/etc/passwd']);
    assert.equal(cmd.code, 1);
    assert.match(cmd.stderr, msg);
    assert.doesNotMatch(cmd.stdout, /root:/);
    const inject = await sshKey(srv, 'alma', u.keyFile!, ['sha256sum /x; cat /etc/passwd']);
    assert.equal(inject.code, 1);
    assert.match(inject.stderr, msg);
    const ptyCmd = await sshKey(srv, 'alma', u.keyFile!, ['-tt', 'id']);
    assert.equal(ptyCmd.code, 1);
    assert.match(ptyCmd.stderr, msg);
    const sub = await sshKey(srv, 'alma', u.keyFile!, ['-s', 'netconf']);
    assert.equal(sub.code, 255);
    assert.match(sub.stderr, /subsystem request failed/);
  });

  await t.test('port forwarding is refused', async () => {
    const stdio = await sshKey(srv, 'alma', u.keyFile!, ['-W', `127.0.0.1:${srv.port}`]);
    assert.equal(stdio.code, 255);
    assert.match(stdio.stderr, /stdio forwarding failed/);
    const remote = await sshKey(srv, 'alma', u.keyFile!, [
      ...['-o', 'ExitOnForwardFailure=yes', '-R', '0:127.0.0.1:9', '-N'],
    ]);
    assert.equal(remote.code, 255);
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

test('login timeout', async () => {
  // config `limits` replaces only the keys given
  const srv = await startServer({ config: { limits: { loginTimeout: 2 } } });
  try {
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
  } finally {
    await srv.stop();
    srv.cleanup();
  }
});

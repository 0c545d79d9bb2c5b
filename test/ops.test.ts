// Operations (issue 12) with real clients: the audit log's events and fields, /metrics moving by
// exactly what was transferred, /healthz during a drain, live control of users (quota, disable,
// kick) reaching open sessions within a second, and SIGHUP reopening the audit log.
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import ssh2 from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import type { TestServer, TestUser } from './helpers/server.js';
import { fixture } from './helpers/fixture.js';
import type { AuditEvent } from '../server/account/events.js';
import { sleep } from './helpers/proc.js';
import { sftpBatch, sftpPassword } from './helpers/clients.js';
import { auditEvents, randomFile, sha256File } from './helpers/files.js';
import { needs } from './helpers/tools.js';

/** An audit log line: the event and the time it was written. */
type Event = AuditEvent & { time: string };

function events(file: string): Event[] {
  return auditEvents<Event>(file);
}

async function waitFor<T>(what: string, probe: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Prometheus text → "name{labels}" → value. */
function parseMetrics(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(match, `not Prometheus text: ${line}`);
    m.set(match[1]!, Number(match[2]));
  }
  return m;
}

async function get(
  srv: { admin: string },
  path: string,
): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://${srv.admin}${path}`);
  return { status: r.status, body: await r.text() };
}

interface OpsServer extends TestServer {
  admin: string;
  audit: string;
}

/** A server with an audit log in its directory and an admin listener on a free loopback port. */
async function opsServer(t: TestContext, config: Record<string, unknown> = {}): Promise<OpsServer> {
  const fx = fixture(t);
  const dir = fx.tempDir('jailsftp-ops-');
  const srv = await fx.server({
    dir,
    config: {
      auditLog: join(dir, 'audit.log'),
      adminListen: '127.0.0.1:0',
      shutdownGrace: 3,
      ...config,
    },
  });
  const m = await waitFor(
    'admin listener',
    () => /admin listening on (127\.0\.0\.1:\d+)/.exec(srv.output()) ?? undefined,
  );
  return Object.assign(srv, { admin: m[1]!, audit: join(srv.dir, 'audit.log') });
}

/** An ssh2 SFTP session kept open by the test. */
async function openSession(
  srv: TestServer,
  u: TestUser,
): Promise<{ conn: ssh2.Client; sftp: SFTPWrapper; closed: Promise<number> }> {
  const conn = new ssh2.Client();
  let closedAt = 0;
  const closed = new Promise<number>((res) =>
    conn.on('close', () => {
      closedAt = Date.now();
      res(closedAt);
    }),
  );
  await new Promise<void>((res, rej) => {
    conn.on('ready', () => res()).on('error', rej);
    conn.connect({ host: srv.host, port: srv.port, username: u.name, password: u.password });
  });
  const sftp = await new Promise<SFTPWrapper>((res, rej) =>
    conn.sftp((err, s) => (err ? rej(err) : res(s))),
  );
  return { conn, sftp, closed };
}

function statvfs(sftp: SFTPWrapper): Promise<{ total: number; free: number }> {
  return new Promise((res, rej) =>
    sftp.ext_openssh_statvfs('/', (err, st) => {
      if (err) return rej(err);
      const s = st as { f_frsize: number; f_blocks: number; f_bfree: number };
      res({ total: s.f_frsize * s.f_blocks, free: s.f_frsize * s.f_bfree });
    }),
  );
}

test(
  'audit log: every event type with its fields, from OpenSSH sftp',
  { skip: needs('sftp', 'sshpass') },
  async (t) => {
    const srv = await opsServer(t);
    t.after(async () => {
      await srv.stop();
      srv.cleanup();
    });
    const u = srv.addUser('ava', { key: true, quota: '3M', home: true });
    const work = join(srv.dir, 'work');
    mkdirSync(work);
    const a = randomFile(join(work, 'a.bin'), 1024 * 1024 + 7);
    const big = join(work, 'big.bin');
    randomFile(big, 1536 * 1024);
    // half of big.bin is already on the server: reput continues at that offset
    writeFileSync(join(u.home, 'big.bin'), readFileSync(big).subarray(0, 512 * 1024));
    const r = await sftpBatch(
      srv,
      u,
      [
        'put a.bin',
        'get a.bin back.bin',
        'mkdir d',
        'rename a.bin d/a.bin',
        'chmod 600 d/a.bin',
        'reput big.bin',
        'rm d/a.bin',
        'rmdir d',
      ].join('\n'),
      { cwd: work },
    );
    assert.equal(r.status, 0, r.stderr);
    // over the quota: 3 MiB quota, 1.5 MiB stored, 2 MiB more refused
    randomFile(join(work, 'huge.bin'), 2 * 1024 * 1024);
    const over = await sftpBatch(srv, u, 'put huge.bin', { cwd: work });
    assert.notEqual(over.status, 0);
    const wrong = await sftpPassword(srv, { name: 'ava', password: 'not-it' }, 'ls');
    assert.notEqual(wrong.status, 0);

    // the log is written in batches: wait until the last events of the three runs are in
    const ev = await waitFor('logout and failed-login events', () => {
      const e = events(srv.audit);
      const out = e.filter((x) => x.event === 'logout').length >= 2;
      const failed = e.some((x) => x.event === 'login' && x.status !== 'ok');
      return out && failed ? e : undefined;
    });
    for (const e of ev) {
      assert.ok(!Number.isNaN(Date.parse(e.time)), JSON.stringify(e));
      assert.equal(e.addr, '127.0.0.1', JSON.stringify(e));
      assert.ok(e.status, JSON.stringify(e));
    }
    const one = (pred: (e: Event) => boolean, what: string): Event => {
      const found = ev.filter(pred);
      assert.equal(found.length, 1, `${what}: ${JSON.stringify(ev, null, 1)}`);
      return found[0]!;
    };
    const logins = ev.filter(
      (e) => e.event === 'login' && e.status === 'ok' && e.method === 'publickey',
    );
    assert.equal(logins.length, 2, 'two sftp runs with the key');
    const login = logins[0]!;
    assert.equal(login.user, 'ava');
    assert.ok(login.session);
    const s = login.session;
    const up = one((e) => e.event === 'upload' && e.path === '/a.bin', 'upload');
    assert.deepEqual(
      [up.user, up.session, up.bytes, up.offset, up.status, up.sha256],
      ['ava', s, 1024 * 1024 + 7, 0, 'ok', a],
    );
    assert.ok(typeof up.ms === 'number' && up.ms >= 0);
    const down = one((e) => e.event === 'download' && e.path === '/a.bin', 'download');
    assert.deepEqual([down.bytes, down.offset, down.status], [1024 * 1024 + 7, 0, 'ok']);
    assert.equal(one((e) => e.event === 'mkdir', 'mkdir').path, '/d');
    const ren = one((e) => e.event === 'rename', 'rename');
    assert.deepEqual([ren.path, ren.target, ren.status], ['/a.bin', '/d/a.bin', 'ok']);
    assert.equal(one((e) => e.event === 'setstat', 'setstat').path, '/d/a.bin');
    const resumed = one((e) => e.event === 'upload' && e.path === '/big.bin', 'reput');
    assert.deepEqual(
      [resumed.offset, resumed.bytes, resumed.status],
      [512 * 1024, 1024 * 1024, 'ok'],
    );
    assert.equal(resumed.sha256, undefined, 'a resumed upload has no whole-file digest');
    assert.equal(sha256File(join(u.home, 'big.bin')), sha256File(big));
    assert.equal(one((e) => e.event === 'remove', 'remove').path, '/d/a.bin');
    assert.equal(one((e) => e.event === 'rmdir', 'rmdir').path, '/d');
    const refused = one((e) => e.event === 'refused', 'quota refusal');
    assert.deepEqual([refused.reason, refused.path], ['quota', '/huge.bin']);
    assert.match(refused.status, /quota/);
    const failedUp = one((e) => e.event === 'upload' && e.path === '/huge.bin', 'failed upload');
    assert.match(failedUp.status, /quota/);
    // OpenSSH may try the password more than once (its prompts); every try is one event
    const bad = ev.filter((e) => e.event === 'login' && e.status !== 'ok');
    assert.ok(bad.length >= 1, 'failed login');
    for (const b of bad)
      assert.deepEqual([b.user, b.method, b.status], ['ava', 'password', 'wrong credentials']);
    const out = ev.filter((e) => e.event === 'logout' && e.session === s);
    assert.equal(out.length, 1);
  },
);

test(
  '/metrics moves by exactly what was transferred; /healthz and /sessions',
  { skip: needs('sftp') },
  async (t) => {
    const srv = await opsServer(t);
    t.after(async () => {
      await srv.stop();
      srv.cleanup();
    });
    const u = srv.addUser('max', { key: true, home: true });
    const work = join(srv.dir, 'work');
    mkdirSync(work);
    randomFile(join(work, 'up.bin'), 777_777);
    randomFile(join(u.home, 'down.bin'), 333_333);
    assert.deepEqual(await get(srv, '/healthz'), { status: 200, body: 'ok\n' });
    const before = parseMetrics((await get(srv, '/metrics')).body);
    const r = await sftpBatch(srv, u, 'put up.bin\nget down.bin\n', { cwd: work });
    assert.equal(r.status, 0, r.stderr);
    const after = parseMetrics((await get(srv, '/metrics')).body);
    const delta = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    assert.equal(delta('jailsftp_transfer_bytes_total{direction="upload"}'), 777_777);
    assert.equal(delta('jailsftp_transfer_bytes_total{direction="download"}'), 333_333);
    assert.equal(delta('jailsftp_logins_total{method="publickey",result="success"}'), 1);
    assert.ok(delta('jailsftp_requests_total{op="write",status="ok"}') >= 1);
    assert.ok(delta('jailsftp_request_duration_seconds_count{op="read"}') >= 1);
    for (const k of [
      'jailsftp_connections_active',
      'jailsftp_sessions_active',
      'jailsftp_handles_open',
      'jailsftp_quota_refusals_total',
      'process_resident_memory_bytes',
    ])
      assert.ok(after.has(k), k);
    assert.ok(
      ![...after.keys()].some((k) => k.includes('user="')),
      'no per-user series by default',
    );

    // an open session shows in /sessions and in `jailsftpd sessions`
    const s = await openSession(srv, srv.addUser('ivy', { password: 'ivy-pw' }));
    t.after(() => s.conn.end());
    const list = JSON.parse((await get(srv, '/sessions')).body) as Array<{ user: string }>;
    assert.deepEqual(
      list.map((x) => x.user),
      ['ivy'],
    );
    const cli = srv.cli(['sessions', '--admin', srv.admin]);
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /^USER +ADDRESS/m);
    assert.match(cli.stdout, /^ivy +127\.0\.0\.1/m);
  },
);

test('live control: quota, disable and kick reach open sessions within a second', async (t) => {
  const srv = await opsServer(t);
  const u = srv.addUser('zoe', { password: 'zoe-pw', quota: '1M' });
  const s = await openSession(srv, u);
  assert.equal((await statvfs(s.sftp)).total, 1024 * 1024);
  assert.equal(srv.cli(['user', 'quota', 'zoe', '4M']).status, 0);
  const changed = Date.now();
  let total = 0;
  while (Date.now() - changed < 1500 && total !== 4 * 1024 * 1024)
    total = (await statvfs(s.sftp)).total;
  assert.equal(total, 4 * 1024 * 1024, 'quota change reached the open session');
  assert.ok(Date.now() - changed < 1200, `took ${Date.now() - changed} ms`);
  // the next write is judged by the new quota: 2 MiB fits in 4 MiB
  await new Promise<void>((res, rej) =>
    s.sftp.writeFile('/two.bin', Buffer.alloc(2 * 1024 * 1024, 1), (e) => (e ? rej(e) : res())),
  );
  assert.equal(readFileSync(join(u.home, 'two.bin')).length, 2 * 1024 * 1024);

  // a new password cuts nothing: the open session keeps working, the next login needs it
  assert.equal(srv.cli(['user', 'passwd', 'zoe', '--password-stdin'], 'zoe-new\n').status, 0);
  await sleep(1200);
  assert.equal((await statvfs(s.sftp)).total, 4 * 1024 * 1024);
  await assert.rejects(openSession(srv, u), /authentication/i);
  u.password = 'zoe-new';

  // disable closes the session within a second and refuses the next login
  assert.equal(srv.cli(['user', 'disable', 'zoe']).status, 0);
  const disabledAt = Date.now();
  const closedAt = await Promise.race([
    s.closed,
    new Promise<number>((r) => setTimeout(() => r(0), 3000)),
  ]);
  assert.ok(closedAt > 0, 'session was not closed');
  assert.ok(closedAt - disabledAt < 1200, `closed after ${closedAt - disabledAt} ms`);
  await assert.rejects(openSession(srv, u), /authentication/i);
  assert.equal(srv.cli(['user', 'enable', 'zoe']).status, 0);
  const again = await openSession(srv, u);

  // kick from the command line
  const kicked = srv.cli(['kick', 'zoe', '--admin', srv.admin]);
  assert.equal(kicked.status, 0, kicked.stderr);
  assert.match(kicked.stdout, /closed 1 session\(s\) of zoe/);
  const k = await Promise.race([
    again.closed,
    new Promise<number>((r) => setTimeout(() => r(0), 3000)),
  ]);
  assert.ok(k > 0, 'kick did not close the session');

  // an expiry in the past refuses the login
  assert.equal(srv.cli(['user', 'set', 'zoe', '--expires', '2020-01-01']).status, 0);
  await assert.rejects(openSession(srv, u), /authentication/i);
  const list = JSON.parse(srv.cli(['user', 'list', '--json']).stdout) as Array<{
    name: string;
    quota: number;
    used: number;
    expires: string;
  }>;
  assert.deepEqual(
    list.map((x) => [x.name, x.quota, x.used, x.expires]),
    [['zoe', 4 * 1024 * 1024, 2 * 1024 * 1024, '2020-01-02T00:00:00.000Z']],
  );
});

test('SIGHUP reopens the audit log after logrotate; no session drops; drain turns /healthz 503', async (t) => {
  const srv = await opsServer(t, { shutdownGrace: 5 });
  const u = srv.addUser('lea', { password: 'lea-pw' });
  const s = await openSession(srv, u);
  await waitFor('login event', () => events(srv.audit).some((e) => e.event === 'login'));
  renameSync(srv.audit, `${srv.audit}.1`);
  srv.proc.kill('SIGHUP');
  await waitFor('reopened log', () => existsSync(srv.audit));
  await new Promise<void>((res, rej) =>
    s.sftp.writeFile('/after.txt', 'after rotation\n', (e) => (e ? rej(e) : res())),
  );
  const ev = await waitFor('upload in the new log', () => {
    const e = events(srv.audit);
    return e.some((x) => x.event === 'upload') ? e : undefined;
  });
  assert.equal(ev.find((e) => e.event === 'upload')!.path, '/after.txt');
  assert.ok(events(`${srv.audit}.1`).some((e) => e.event === 'login'));
  // the session survived the reload and still works
  const st = await new Promise<number>((res, rej) =>
    s.sftp.stat('/after.txt', (e, a) => (e ? rej(e) : res(a.size))),
  );
  assert.equal(st, 15);
  // SIGTERM with an open write handle: the server drains, /healthz says 503 meanwhile
  const h = await new Promise<Buffer>((res, rej) =>
    s.sftp.open('/draining.bin', 'w', (e, hh) => (e ? rej(e) : res(hh))),
  );
  srv.proc.kill('SIGTERM');
  let health: { status: number; body: string } | undefined;
  for (let i = 0; i < 50 && health?.status !== 503; i++) {
    health = await get(srv, '/healthz').catch(() => undefined);
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.equal(health?.status, 503);
  assert.match(health!.body, /draining/);
  await new Promise<void>((res) => s.sftp.close(h, () => res()));
  s.conn.end();
});

test('the idle timeout is logged once, even for a client that stops reading', async (t) => {
  const srv = await fixture(t).server({ config: { limits: { idleTimeout: 1 } } });
  const u = srv.addUser('sleepy', { password: 'sleepy-pw' });
  const sock = connect(srv.port, srv.host);
  const conn = new ssh2.Client();
  fixture(t).defer(() => sock.destroy());
  await new Promise<void>((res, rej) => {
    conn.on('ready', () => res()).on('error', rej);
    conn.connect({ sock, username: u.name, password: u.password });
  });
  conn.on('error', () => undefined);
  sock.pause(); // the server's goodbye stays unread: the connection lingers until it is cut
  await sleep(5000);
  const lines = srv.output().match(/connection\.idle_timeout .*user=sleepy/g) ?? [];
  assert.equal(lines.length, 1, srv.output());
});

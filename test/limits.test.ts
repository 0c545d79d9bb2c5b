// Limits: total connections, connections per address, sessions per user, idle timeout and open
// handles. What exceeds a limit gets a clear refusal; everyone else keeps working.
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import ssh2 from 'ssh2';
import { fixture } from './helpers/fixture.js';
import type { TestServer, TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import { sftpBatch } from './helpers/clients.js';

interface Session {
  client: ssh2.Client;
  sftp: ssh2.SFTPWrapper;
}

function login(srv: TestServer, u: TestUser, localAddress = '127.0.0.1'): Promise<ssh2.Client> {
  return new Promise((res, rej) => {
    const c = new ssh2.Client();
    c.on('ready', () => res(c)).on('error', rej);
    c.connect({
      host: srv.host,
      port: srv.port,
      localAddress,
      username: u.name,
      password: u.password,
      readyTimeout: 15_000,
    });
  });
}

function sftpOf(c: ssh2.Client): Promise<ssh2.SFTPWrapper> {
  return new Promise((res, rej) => c.sftp((e, s) => (e ? rej(e) : res(s))));
}

async function session(srv: TestServer, u: TestUser, localAddress?: string): Promise<Session> {
  const client = await login(srv, u, localAddress);
  return { client, sftp: await sftpOf(client) };
}

/** A round trip that proves the session works: REALPATH of ".". */
function works(s: Session): Promise<boolean> {
  return new Promise((res) => s.sftp.realpath('.', (e, p) => res(!e && p === '/')));
}

/** What a raw TCP client reads before the server closes: the refusal text, if any. */
function rawRefusal(srv: TestServer, localAddress: string): Promise<string> {
  return new Promise((res) => {
    let got = '';
    const s = tcpConnect({ host: srv.host, port: srv.port, localAddress });
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('error', () => undefined);
    s.on('close', () => res(got));
    setTimeout(() => s.destroy(), 5000).unref();
  });
}

function open(sftp: ssh2.SFTPWrapper, path: string): Promise<Buffer | Error> {
  return new Promise((res) => sftp.open(path, 'w', (e, h) => res(e ?? h)));
}

test('maxConnections and maxConnectionsPerAddress', async (t) => {
  const fx = fixture(t);
  const srv = await fx.server({
    config: { limits: { maxConnections: 4, maxConnectionsPerAddress: 2 } },
  });
  const open: Session[] = [];
  fx.defer(() => {
    for (const s of open) s.client.end();
  });
  const u = srv.addUser('conn', { password: 'pw' });
  open.push(await session(srv, u, '127.0.0.1'), await session(srv, u, '127.0.0.1'));
  // a third from the same address is refused, with a reason
  assert.equal(
    await rawRefusal(srv, '127.0.0.1'),
    'jailsftpd: too many connections from your address\r\n',
  );
  await assert.rejects(login(srv, u, '127.0.0.1'));
  // another address still gets in, up to the total
  open.push(await session(srv, u, '127.0.0.2'), await session(srv, u, '127.0.0.3'));
  assert.equal(
    await rawRefusal(srv, '127.0.0.4'),
    'jailsftpd: too many connections, try again later\r\n',
  );
  await assert.rejects(login(srv, u, '127.0.0.5'));
  // everyone already in keeps working
  for (const s of open) assert.equal(await works(s), true);
  // a slot freed is a slot available
  open.shift()!.client.end();
  await new Promise((r) => setTimeout(r, 300));
  open.push(await session(srv, u, '127.0.0.1'));
  assert.equal(await works(open.at(-1)!), true);
  assert.match(
    srv.output(),
    /connection\.refused .*reason="?too many connections from your address/,
  );
});

test('maxSessionsPerUser', async (t) => {
  const fx = fixture(t);
  const srv = await fx.server({ config: { limits: { maxSessionsPerUser: 2 } } });
  const clients: ssh2.Client[] = [];
  fx.defer(() => {
    for (const c of clients) c.end();
  });
  const u = srv.addUser('sess', { password: 'pw', key: true });
  const other = srv.addUser('other', { password: 'pw2' });
  const a = await session(srv, u);
  clients.push(a.client);
  const b = await sftpOf(a.client); // a second session on the same connection
  const c2 = await login(srv, u); // a third, on another connection
  clients.push(c2);
  await assert.rejects(sftpOf(c2));
  // what OpenSSH sftp users see
  if (!needs('sftp')) {
    const r = await sftpBatch(srv, u, 'ls\n');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /jailsftpd: too many sessions for user sess \(limit 2\)/);
  }
  // the sessions already open, and other users, keep working
  assert.equal(await works(a), true);
  assert.equal(await works({ client: a.client, sftp: b }), true);
  const o = await session(srv, other);
  clients.push(o.client);
  assert.equal(await works(o), true);
  // closing a session frees its slot
  b.end();
  await new Promise((r) => setTimeout(r, 300));
  const again = await sftpOf(c2);
  assert.equal(await works({ client: c2, sftp: again }), true);
});

test('idleTimeout closes idle connections only', async (t) => {
  const fx = fixture(t);
  const srv = await fx.server({ config: { limits: { idleTimeout: 2 } } });
  const u = srv.addUser('idle', { password: 'pw' });
  const idle = await session(srv, u);
  const busy = await session(srv, u);
  const t0 = Date.now();
  const idleClosed = new Promise<number>((res) =>
    idle.client.on('close', () => res(Date.now() - t0)),
  );
  let busyClosed = false;
  busy.client.on('close', () => (busyClosed = true));
  for (let i = 0; i < 10; i++) {
    assert.equal(await works(busy), true, `busy session failed after ${Date.now() - t0} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const ms = await idleClosed;
  assert.ok(ms >= 1800 && ms < 6000, `idle connection closed after ${ms} ms`);
  assert.equal(busyClosed, false);
  assert.match(srv.output(), /connection\.idle_timeout .*user=idle/);
  busy.client.end();
});

test('maxHandles', async (t) => {
  const fx = fixture(t);
  const srv = await fx.server({ config: { limits: { maxHandles: 5 } } });
  const u = srv.addUser('hand', { password: 'pw' });
  const s = await session(srv, u);
  const s2 = await session(srv, u);
  const handles: Buffer[] = [];
  for (let i = 0; i < 5; i++) {
    const h = await open(s.sftp, `/f${i}`);
    assert.ok(Buffer.isBuffer(h), String(h));
    handles.push(h);
  }
  const sixth = await open(s.sftp, '/f5');
  assert.ok(sixth instanceof Error);
  assert.equal(sixth.message, 'too many open handles (limit 5)');
  // a directory handle counts too
  const dir = await new Promise<Error | Buffer>((res) =>
    s.sftp.opendir('/', (e, h) => res(e ?? h)),
  );
  assert.ok(dir instanceof Error && /too many open handles/.test(dir.message));
  // the limit is per session: another session opens files
  const h2 = await open(s2.sftp, '/g');
  assert.ok(Buffer.isBuffer(h2));
  // the session with the full table still works, and closing one frees a slot
  assert.equal(await works(s), true);
  await new Promise<void>((res, rej) => s.sftp.close(handles[0]!, (e) => (e ? rej(e) : res())));
  assert.ok(Buffer.isBuffer(await open(s.sftp, '/f5')));
  s.client.end();
  s2.client.end();
});

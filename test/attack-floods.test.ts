// Issue 6, connection floods: silent connections, slow handshakes, garbage, failed-login storms,
// login and idle timeouts. A real user can always still log in. The flood comes from other
// loopback addresses (127.0.0.x), as an attacker's would.
import test from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { useServer } from './helpers/fixture.js';
import type { TestServer } from './helpers/server.js';
import { freshLogin, rawSftp, rss, MB, T, tryLogin } from './helpers/attack.js';
import { sleep } from './helpers/run.js';

const allSockets: Socket[] = [];

/** Opens a TCP connection from a local address; resolves once connected. */
function tcp(srv: TestServer, localAddress: string): Promise<Socket> {
  return new Promise((res, rej) => {
    const s = connect({ host: srv.host, port: srv.port, localAddress });
    allSockets.push(s);
    // read (and drop) whatever the server says, so that its close is seen
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.once('connect', () => res(s));
    s.once('error', rej);
  });
}

function isOpen(s: Socket): boolean {
  return !s.destroyed && !s.readableEnded && !s.closed;
}

/** Runs n failed logins from one address, `par` at once, with user names from name(i). */
export async function failStorm(
  srv: TestServer,
  n: number,
  par: number,
  addr: string,
  name: (i: number) => string,
): Promise<number[]> {
  const times: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const r = await tryLogin(srv, name(i), 'wrong-password', addr);
      assert.equal(r.ok, false);
      times[i] = r.ms;
    }
  };
  await Promise.all(Array.from({ length: par }, worker));
  return times;
}

test('connection floods', { timeout: 600_000 }, async (t) => {
  const srv = await useServer(t, { config: { limits: { loginTimeout: 5 } } });
  const alice = srv.addUser('alice');
  const victim = srv.addUser('victim');
  // whatever a failed attack left open goes before the next one
  t.afterEach(() => {
    for (const s of allSockets.splice(0)) s.destroy();
  });

  await t.test('1,000 TCP connections that never speak', async () => {
    const socks: Socket[] = [];
    for (let i = 0; i < 1000; i++) {
      const addr = `127.0.0.${2 + (i % 20)}`; // 50 per address, under the per-address limit
      socks.push(await tcp(srv, addr));
    }
    await sleep(500);
    const t0 = performance.now();
    await freshLogin(srv, alice);
    const loginMs = performance.now() - t0;
    const held = socks.filter(isOpen).length;
    t.diagnostic(
      `1,000 silent connections: ${held} still held by the server; login took ${loginMs.toFixed(0)} ms`,
    );
    assert.ok(held <= 64 + 1, `${held} silent connections held`);
    for (const s of socks) s.destroy();
    // and 1,000 from one address: the per-address limit refuses the rest
    const one: Socket[] = [];
    for (let i = 0; i < 1000; i++) {
      try {
        one.push(await tcp(srv, '127.0.0.30'));
      } catch {
        /* refused */
      }
    }
    await sleep(500);
    assert.ok(one.filter(isOpen).length <= 64, `${one.filter(isOpen).length} from one address`);
    await freshLogin(srv, alice);
    for (const s of one) s.destroy();
    assert.ok(rss(srv.proc.pid!) < 256 * MB);
  });

  await t.test('slow handshakes and garbage bytes', async () => {
    const slow = await Promise.all(Array.from({ length: 20 }, () => tcp(srv, '127.0.0.40')));
    const line = Buffer.from('SSH-2.0-slowpoke\r\n');
    let stop = false;
    const dribble = (async () => {
      for (let i = 0; !stop && i < 200; i++) {
        for (const s of slow)
          if (isOpen(s)) s.write(line.subarray(i % line.length, (i % line.length) + 1));
        await sleep(200);
      }
    })();
    const garbage = await Promise.all(Array.from({ length: 50 }, () => tcp(srv, '127.0.0.41')));
    for (const g of garbage) g.write(randomBytes(4096));
    await freshLogin(srv, alice);
    await sleep(2000);
    assert.equal(garbage.filter(isOpen).length, 0, 'garbage connections stay open');
    // the login timeout (5 s here) closes the slow ones
    await sleep(5000);
    stop = true;
    await dribble;
    assert.equal(slow.filter(isOpen).length, 0, 'slow handshakes outlive the login timeout');
    for (const s of [...slow, ...garbage]) s.destroy();
    await freshLogin(srv, alice);
  });

  await t.test(
    'failed-login storm from one address: slowed, then refused; others get in',
    async () => {
      const t0 = performance.now();
      const times = await failStorm(srv, 300, 30, '127.0.0.50', (i) => `nobody${i}`);
      const first = median(times.slice(0, 30));
      const last = median(times.slice(-30));
      // the victim's name is attacked until locked; even the right password is then refused
      await Promise.all(
        Array.from({ length: 24 }, () => tryLogin(srv, victim.name, 'nope', '127.0.0.50')),
      );
      const locked = await tryLogin(srv, victim.name, victim.password, '127.0.0.50');
      const elsewhere = await tryLogin(srv, victim.name, victim.password, '127.0.0.1');
      const other = await tryLogin(srv, alice.name, alice.password, '127.0.0.50');
      t.diagnostic(
        `failed logins: 300 in ${((performance.now() - t0) / 1000).toFixed(1)} s; median ` +
          `${first.toFixed(0)} ms at first, ${last.toFixed(0)} ms at the end; victim locked: ` +
          `${!locked.ok}; alice from the same address: ${other.ok} (${other.ms.toFixed(0)} ms)`,
      );
      assert.ok(last > first + 500, `not slowed: ${first} -> ${last} ms`);
      assert.equal(locked.ok, false, 'locked pair accepted the right password');
      assert.equal(elsewhere.ok, true, 'victim locked out from another address');
      assert.equal(other.ok, true, 'another user from the attacking address refused');
      assert.ok(other.ms < 5000, `alice waited ${other.ms} ms`);
    },
  );

  await t.test('login timeout and idle timeout', async (st) => {
    const s2 = await useServer(st, { config: { limits: { loginTimeout: 2, idleTimeout: 2 } } });
    const bob = s2.addUser('bob');
    // a handshake that stops after the version line
    const sock = await tcp(s2, '127.0.0.60');
    sock.write('SSH-2.0-stall\r\n');
    const t0 = performance.now();
    await new Promise((r) => sock.once('close', r));
    const loginClosed = performance.now() - t0;
    assert.ok(loginClosed > 1500 && loginClosed < 5000, `closed after ${loginClosed} ms`);
    // an idle session is closed; a busy one is not
    const idle = await rawSftp(s2, bob);
    const busy = await rawSftp(s2, bob);
    const t1 = performance.now();
    let busyOk = true;
    while (performance.now() - t1 < 5000) {
      const r = await busy.path(T.REALPATH, '.');
      if (r.type !== T.NAME) busyOk = false;
      await sleep(300);
    }
    assert.equal(idle.closed, true, 'idle session still open after 5 s');
    assert.equal(busyOk, true, 'busy session was closed');
    await busy.end();
    t.diagnostic(`login timeout closed after ${loginClosed.toFixed(0)} ms`);
  });
});

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}

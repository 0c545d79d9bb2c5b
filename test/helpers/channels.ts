// Many SFTP channels on one long-lived SSH connection (ssh2 Client), and the server's resident
// memory from /proc, for the connection-lifetime tests (channels.test.ts and its soak version).
import assert from 'node:assert/strict';
import ssh2, { type SFTPWrapper } from 'ssh2';
import test, { before } from 'node:test';
import { fixture } from './fixture.js';
import { rss } from './procfs.js';
import { sleep } from './proc.js';
import type { TestServer, TestUser } from './server.js';

export function connect(srv: TestServer, u: TestUser): Promise<ssh2.Client> {
  return new Promise((res, rej) => {
    const c = new ssh2.Client();
    c.once('ready', () => res(c));
    c.once('error', rej);
    c.connect({ host: srv.host, port: srv.port, username: u.name, password: u.password });
  });
}

/** An SFTP channel; with `env`, the variables are sent first (env requests; refused: rejects). */
export function openSftp(c: ssh2.Client, env?: Record<string, string>): Promise<SFTPWrapper> {
  return new Promise((res, rej) => {
    const cb = (err: Error | undefined, s: SFTPWrapper): void => (err ? rej(err) : res(s));
    // ssh2's sftp([env,] cb): its type declarations leave the env out
    if (env) (c.sftp as unknown as (e: object, f: typeof cb) => void).call(c, env, cb);
    else c.sftp(cb);
  });
}

/** Opens an SFTP channel, asks one REALPATH, closes it and waits until the channel is closed. */
async function openAskClose(c: ssh2.Client): Promise<void> {
  const s = await openSftp(c);
  await new Promise<void>((res, rej) =>
    s.realpath('.', (e, p) => (e ? rej(e) : p === '/' ? res() : rej(new Error(p)))),
  );
  await new Promise<void>((res) => {
    s.once('close', () => res());
    s.end();
  });
}

/** n channels, `parallel` at a time, one after another on each lane. */
export async function cycleChannels(c: ssh2.Client, n: number, parallel: number): Promise<void> {
  let started = 0;
  const lane = async (): Promise<void> => {
    while (started < n) {
      started++;
      await openAskClose(c);
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
}

/** Lets the server settle, then its RSS (the server's GC runs on its own; we only wait). */
export async function settledRss(pid: number): Promise<number> {
  await sleep(1500);
  return rss(pid);
}

/**
 * Before this was fixed, each channel left its engine (with its channel, framer and handle table)
 * on the connection's list of closers: some kilobytes per channel, tens of megabytes over 10,000.
 * After a warm-up (code paths compiled, pools filled) the growth over n more channels must stay
 * under boundMiB, which covers the collector's slack; then every session slot must be free again
 * (maxSessions channels open at once) and the connection must still move data.
 */
export async function channelsStayFlat(
  srv: TestServer,
  u: TestUser,
  o: { channels: number; boundMiB: number; maxSessions: number },
): Promise<void> {
  const n = o.channels;
  const c = await connect(srv, u);
  try {
    const pid = srv.proc.pid!;
    await cycleChannels(c, 200, 2);
    const before = await settledRss(pid);
    const t0 = Date.now();
    await cycleChannels(c, n, 2);
    const took = Date.now() - t0;
    const afterRss = await settledRss(pid);
    const grew = (afterRss - before) / 1024 / 1024;
    console.log(
      `${n} channels in ${took} ms; server RSS ${(before / 1048576).toFixed(1)} -> ${(afterRss / 1048576).toFixed(1)} MiB`,
    );
    assert.ok(grew < o.boundMiB, `server RSS grew by ${grew.toFixed(1)} MiB over ${n} channels`);

    // every session slot came back: the user's limit of sessions can be opened at once
    const all = await Promise.all(Array.from({ length: o.maxSessions }, () => openSftp(c)));
    // and the connection still moves data
    const data = Buffer.from('still here\n'.repeat(1000));
    await new Promise<void>((res, rej) =>
      all[0]!.writeFile('/after.txt', data, (e) => (e ? rej(e) : res())),
    );
    const back = await new Promise<Buffer>((res, rej) =>
      all[1]!.readFile('/after.txt', (e, b) => (e ? rej(e) : res(b))),
    );
    assert.ok(back.equals(data));
    for (const s of all) s.end();
  } finally {
    c.end();
  }
}

/** The test of one file: a server with a small session limit, one user, n channels. */
export function channelsTest(n: number): void {
  const maxSessions = 4;
  const fx = fixture();
  let srv: TestServer;
  let u: TestUser;
  before(async () => {
    const s = await fx.server({
      config: { limits: { maxSessionsPerUser: maxSessions } },
      users: { lena: {} },
    });
    [srv, u] = [s, s.users.lena];
  });
  const count = n.toLocaleString('en');
  test(`${count} SFTP channels on one connection: flat server memory, slots back, still usable`, () =>
    channelsStayFlat(srv, u, { channels: n, boundMiB: 12, maxSessions }));
}

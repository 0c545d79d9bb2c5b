// The PROXY protocol behind a real HAProxy (issue 11): three nodes sharing one users directory, one
// homes directory and the same host keys, behind HAProxy (send-proxy-v2, roundrobin). Clients bound
// to 127.0.0.2 and 127.0.0.3 must appear with those addresses (logs, audit, /sessions, per-user
// rules), never HAProxy's; a PROXY header from anyone but the balancer is refused, and the balancer
// must send one; v1 and v2 headers sent by hand both work; uploads through HAProxy land intact; the
// host key is the same whichever node answers. Also checks the deployment files in deploy/.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { fixture } from './helpers/fixture.js';
import { SSH_COMMON } from './helpers/clients.js';
import { auditEvents, randomFile, sha256File } from './helpers/files.js';
import { startHaproxy, type TestHaproxy } from './helpers/haproxy.js';
import { run, sleep } from './helpers/run.js';
import { CLI, ROOT, type TestServer, type TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import { readConfigFile } from '../server/config.js';
import { parseHeader } from '../server/ssh/proxy-header.js';

type LogLine = Record<string, unknown> & { event: string };

/** A node's JSON log lines. */
function logLines(n: TestServer): LogLine[] {
  return n
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

/** Polls until `cond` holds (log and audit lines reach the test a little after the client's answer). */
async function until<T>(
  what: string,
  get: () => T,
  cond: (v: T) => boolean,
  ms = 5000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (cond(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await sleep(25);
  }
}

function audit(n: TestServer): LogLine[] {
  const file = join(n.dir, 'audit.log');
  return auditEvents<LogLine>(file);
}

/** A TCP connection to 127.0.0.1:port from `from`. */
function rawSocket(port: number, from = '127.0.0.1'): Promise<Socket> {
  return new Promise((res, rej) => {
    const s = connect({ host: '127.0.0.1', port, localAddress: from }, () => res(s));
    s.once('error', rej);
  });
}

interface Login {
  conn: ssh2.Client;
  closed: Promise<void>;
}

/** An SSH login (password) to 127.0.0.1:port from `from`, or over an open socket; rejects with the error. */
async function sshLogin(
  target: { port: number; from?: string } | { sock: Socket },
  user: string,
  password: string,
): Promise<Login> {
  const conn = new ssh2.Client();
  const closed = new Promise<void>((res) => conn.on('close', () => res()));
  conn.on('error', () => undefined);
  await new Promise<void>((res, rej) => {
    conn.once('ready', () => res()).once('error', rej);
    conn.once('close', () => rej(new Error('connection closed before the login')));
    const where =
      'sock' in target
        ? { sock: target.sock }
        : { host: '127.0.0.1', port: target.port, localAddress: target.from };
    conn.connect({ ...where, username: user, password, readyTimeout: 15000 });
  });
  return { conn, closed };
}

/** 'ok' (and logged out again) or the login's error text. */
async function tryLogin(
  target: Parameters<typeof sshLogin>[0],
  user: string,
  password: string,
): Promise<string> {
  try {
    const l = await sshLogin(target, user, password);
    l.conn.end();
    await l.closed;
    return 'ok';
  } catch (e) {
    return (e as Error).message;
  }
}

async function sessions(admin: string): Promise<{ user: string; addr: string }[]> {
  const r = await fetch(`http://${admin}/sessions`);
  return (await r.json()) as { user: string; addr: string }[];
}

/** PROXY v2 by hand: signature, version 2 + command, family/transport, length, addresses, TLVs. */
function v2Header(
  cmd: 'PROXY' | 'LOCAL',
  src?: { v6?: boolean; addr: number[]; port: number },
  tlv: Buffer = Buffer.alloc(0),
): Buffer {
  const sig = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
  if (!src) return Buffer.concat([sig, Buffer.from([cmd === 'LOCAL' ? 0x20 : 0x21, 0, 0, 0])]);
  const dst = src.v6 ? [...Array<number>(15).fill(0), 1] : [127, 0, 0, 1];
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(src.port, 0);
  ports.writeUInt16BE(2222, 2);
  const body = Buffer.concat([Buffer.from(src.addr), Buffer.from(dst), ports, tlv]);
  const head = Buffer.from([cmd === 'LOCAL' ? 0x20 : 0x21, src.v6 ? 0x21 : 0x11, 0, 0]);
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([sig, head, body]);
}

describe('PROXY protocol through HAProxy, three nodes', { skip: needs('haproxy', 'sftp') }, () => {
  const fx = fixture();
  const nodes: TestServer[] = [];
  const admins: string[] = [];
  let hap: TestHaproxy;
  let shared: string;
  let alice: TestUser;
  const bob = { name: 'bob', password: 'pw-bob-secret' };
  const carol = { name: 'carol', password: 'pw-carol-secret' };

  before(async () => {
    shared = fx.tempDir('jailsftp-cluster-');
    const dirs = { users: join(shared, 'users'), homes: join(shared, 'home') };
    const hostKeys = join(shared, 'keys');
    for (const d of [dirs.users, dirs.homes]) mkdirSync(d);
    // one after another: the first creates the host keys, the others load the same ones
    for (let i = 0; i < 3; i++) {
      const dir = fx.tempDir('jailsftp-node-');
      const n = await fx.server({
        dir,
        config: {
          ...dirs,
          hostKeys,
          proxyProtocol: ['127.0.0.1/32'],
          auditLog: join(dir, 'audit.log'),
          adminListen: '127.0.0.1:0',
          logFormat: 'json',
          shutdownGrace: 2,
        },
      });
      nodes.push(n);
      const m = await until(
        'admin listener',
        () => /admin listening on (127\.0\.0\.1:\d+)/.exec(n.output()),
        (v) => v !== null,
      );
      admins.push(m![1]!);
    }
    alice = nodes[0]!.addUser('alice', { key: true });
    nodes[0]!.addUser('bob', { password: bob.password });
    nodes[0]!.addUser('carol', { password: carol.password });
    const set = nodes[0]!.cli(['user', 'set', 'bob', '--allow-from', '127.0.0.2/32']);
    assert.equal(set.status, 0, set.stderr);
    hap = await startHaproxy(fx, { backends: nodes.map((n) => n.port) });
  });

  /** OpenSSH sftp with alice's key through HAProxy from `from`, known hosts as given. */
  function sftpVia(from: string, commands: string, hostKeys: string[] = SSH_COMMON) {
    return run(
      'sftp',
      [
        ...hostKeys,
        ...['-o', 'IdentitiesOnly=yes', '-i', alice.keyFile!, '-o', `BindAddress=${from}`],
        ...['-P', String(hap.port), '-b', '-', `alice@127.0.0.1`],
      ],
      { input: commands, timeoutMs: 30000 },
    );
  }

  test('clients bound to 127.0.0.2 and .3 appear with those addresses in every node (log, audit, /sessions)', async () => {
    // HAProxy's health checks (a LOCAL header, then the SSH banner) are served, none refused
    const stats = await hap.stats();
    assert.deepEqual(
      [...stats.values()].map((s) => s.check),
      ['L7OK', 'L7OK', 'L7OK'],
    );
    for (const n of nodes)
      assert.deepEqual(
        logLines(n).filter((l) => l.event === 'connection.refused'),
        [],
      );
    for (const from of [
      '127.0.0.2',
      '127.0.0.3',
      '127.0.0.2',
      '127.0.0.3',
      '127.0.0.2',
      '127.0.0.3',
    ]) {
      const r = await sftpVia(from, 'pwd\n');
      assert.equal(r.status, 0, r.stderr);
    }
    // roundrobin: six logins, two on each node, each logged with the client's address
    for (const [i, n] of nodes.entries()) {
      const logins = await until(
        `node ${i + 1} logins`,
        () => logLines(n).filter((l) => l.event === 'login' && l.user === 'alice'),
        (v) => v.length >= 2,
      );
      for (const l of logins) assert.match(String(l.addr), /^127\.0\.0\.[23]$/, JSON.stringify(l));
      const audited = await until(
        `node ${i + 1} audit`,
        () => audit(n).filter((e) => e.event === 'login' && e.user === 'alice'),
        (v) => v.length >= 2,
      );
      for (const e of audited) assert.match(String(e.addr), /^127\.0\.0\.[23]$/, JSON.stringify(e));
      assert.equal(
        audit(n).filter((e) => e.addr === '127.0.0.1').length,
        0,
        `node ${i + 1}: an audit event with HAProxy's address`,
      );
    }
    const all = nodes.flatMap((n) => logLines(n).filter((l) => l.event === 'login'));
    assert.deepEqual(new Set(all.map((l) => l.addr)), new Set(['127.0.0.2', '127.0.0.3']));

    // /sessions: an open session from .3 shows on exactly one node, with that address
    const s = await sshLogin({ port: hap.port, from: '127.0.0.3' }, carol.name, carol.password);
    try {
      const lists = await Promise.all(admins.map((a) => sessions(a)));
      const mine = lists.flat().filter((x) => x.user === 'carol');
      assert.equal(mine.length, 1, JSON.stringify(lists));
      assert.equal(mine[0]!.addr, '127.0.0.3');
    } finally {
      s.conn.end();
      await s.closed;
    }
  });

  test("a user's allowFrom 127.0.0.2/32 admits the .2 client and refuses the .3 one through the balancer", async () => {
    assert.equal(
      await tryLogin({ port: hap.port, from: '127.0.0.2' }, bob.name, bob.password),
      'ok',
    );
    assert.match(
      await tryLogin({ port: hap.port, from: '127.0.0.3' }, bob.name, bob.password),
      /authentication methods failed/,
    );
    const refused = await until(
      'login.refused',
      () => nodes.flatMap((n) => logLines(n)).filter((l) => l.event === 'login.refused'),
      (v) => v.length > 0,
    );
    assert.equal(refused[0]!.addr, '127.0.0.3');
    assert.match(String(refused[0]!.reason), /127\.0\.0\.3 not in allowFrom 127\.0\.0\.2\/32/);
  });

  test('the same host key whichever node answers: StrictHostKeyChecking=yes, one known_hosts, all nodes used', async () => {
    const dir = fx.tempDir('jailsftp-kh-');
    const keys = join(shared, 'keys');
    const pubs = readdirSync(keys)
      .filter((f) => f.endsWith('.pub'))
      .map((f) => readFileSync(join(keys, f), 'utf8').trim().split(' ').slice(0, 2).join(' '));
    assert.ok(pubs.length >= 1);
    const kh = join(dir, 'known_hosts');
    writeFileSync(kh, pubs.map((p) => `[127.0.0.1]:${hap.port} ${p}\n`).join(''));
    const strict = (file: string): string[] => [
      ...['-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${file}`],
      ...['-o', 'LogLevel=ERROR'],
    ];
    const before = await hap.stats();
    for (let i = 0; i < 6; i++) {
      const r = await sftpVia('127.0.0.2', 'pwd\n', strict(kh));
      assert.equal(r.status, 0, `connection ${i + 1}: ${r.stderr}`);
    }
    const afterStats = await hap.stats();
    for (const [name, s] of afterStats)
      assert.ok(s.sessions - before.get(name)!.sessions >= 1, `${name} was never used`);
    // the check is real: another key for the same name is refused
    const other = join(dir, 'known_hosts.other');
    const stranger =
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBw7P1DqcxFvsb+6V2GvHA0y1X3nQ8uBa1fm8uDSJPS3';
    writeFileSync(other, `[127.0.0.1]:${hap.port} ${stranger}\n`);
    const bad = await sftpVia('127.0.0.2', 'pwd\n', strict(other));
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  test('an upload through HAProxy with OpenSSH sftp lands byte-identical (sha256)', async () => {
    const dir = fx.tempDir('jailsftp-up-');
    const src = join(dir, 'big.bin');
    const sum = randomFile(src, 8 * 1024 * 1024 + 123);
    const r = await sftpVia('127.0.0.3', `put ${src} big.bin\n`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(sha256File(join(shared, 'home', 'alice', 'big.bin')), sum);
  });

  test('a direct client not in proxyProtocol that sends a PROXY header (v1, v2) is refused', async () => {
    const n = nodes[1]!;
    const headers: [string, Buffer][] = [
      ['v1', Buffer.from(`PROXY TCP4 127.0.0.9 127.0.0.1 40000 ${n.port}\r\n`)],
      ['v2', v2Header('PROXY', { addr: [127, 0, 0, 9], port: 40000 })],
    ];
    for (const [v, h] of headers) {
      const sock = await rawSocket(n.port, '127.0.0.2');
      sock.write(h);
      // the header claims 127.0.0.9 for carol: no login may follow
      const got = await tryLogin({ sock }, carol.name, carol.password);
      assert.notEqual(got, 'ok', `${v}: logged in after a PROXY header from a client`);
      const refused = await until(
        `${v} refusal`,
        () => logLines(n).filter((l) => l.event === 'connection.refused' && l.addr === '127.0.0.2'),
        (l) => l.some((x) => String(x.reason).includes(`PROXY ${v} header`)),
      );
      assert.ok(
        refused.some((x) => x.reason === `PROXY ${v} header from 127.0.0.2, not in proxyProtocol`),
        JSON.stringify(refused),
      );
    }
    assert.equal(
      logLines(n).filter((l) => l.addr === '127.0.0.9').length,
      0,
      'the claimed address was used',
    );
    // the same client without a header is an ordinary direct client
    assert.equal(
      await tryLogin({ port: n.port, from: '127.0.0.2' }, carol.name, carol.password),
      'ok',
    );
  });

  test('a connection from a listed address without a PROXY header is refused', async () => {
    const n = nodes[2]!;
    // an SSH client straight to the node from the balancer's address: no header, no SSH
    assert.notEqual(await tryLogin({ port: n.port }, carol.name, carol.password), 'ok');
    await until(
      'refusal',
      () => logLines(n).filter((l) => l.event === 'connection.refused' && l.addr === '127.0.0.1'),
      (l) => l.some((x) => x.reason === 'no PROXY header from balancer 127.0.0.1'),
    );
    // one that says nothing is refused after the header's time limit (5 s), told why
    const sock = await rawSocket(n.port);
    let heard = '';
    sock.on('data', (d: Buffer) => (heard += d.toString()));
    const t0 = Date.now();
    await new Promise((r) => sock.once('close', r));
    const waited = Date.now() - t0;
    assert.ok(waited >= 4500 && waited < 9000, `closed after ${waited} ms`);
    assert.equal(heard, 'jailsftpd: a PROXY header is required\r\n');
    const lines = logLines(n).filter(
      (l) =>
        l.event === 'connection.refused' &&
        l.reason === 'no PROXY header within 5 s from balancer 127.0.0.1',
    );
    assert.equal(lines.length, 1);
  });

  test('PROXY v1 and v2 headers sent by hand: the login is served with the address they name', async () => {
    const n = nodes[0]!;
    const cases: [string, Buffer, string][] = [
      ['v1 TCP4', Buffer.from(`PROXY TCP4 127.0.0.7 127.0.0.1 40001 ${n.port}\r\n`), '127.0.0.7'],
      ['v1 TCP6', Buffer.from(`PROXY TCP6 2001:db8::7 ::1 40002 ${n.port}\r\n`), '2001:db8::7'],
      ['v2 IPv4', v2Header('PROXY', { addr: [127, 0, 0, 8], port: 40003 }), '127.0.0.8'],
      [
        'v2 IPv6 with a TLV',
        v2Header(
          'PROXY',
          { v6: true, addr: [0x20, 1, 0x0d, 0xb8, ...Array<number>(11).fill(0), 8], port: 40004 },
          Buffer.from([0x04, 0x00, 0x03, 1, 2, 3]), // PP2_TYPE_NOOP, 3 bytes
        ),
        '2001:db8::8',
      ],
      // health checks: the balancer's own address
      ['v1 UNKNOWN', Buffer.from('PROXY UNKNOWN\r\n'), '127.0.0.1'],
      ['v2 LOCAL', v2Header('LOCAL'), '127.0.0.1'],
    ];
    for (const [what, header, addr] of cases) {
      const sock = await rawSocket(n.port);
      sock.write(header);
      const s = await sshLogin({ sock }, carol.name, carol.password);
      try {
        const list = (await sessions(admins[0]!)).filter((x) => x.user === 'carol');
        assert.deepEqual(
          list.map((x) => x.addr),
          [addr],
          what,
        );
      } finally {
        s.conn.end();
        await s.closed;
      }
      await until(
        `${what} logout`,
        () => audit(n).filter((e) => e.event === 'logout' && e.addr === addr),
        (v) => v.length > 0,
      );
    }
    // a header naming a family it does not hold is refused
    const sock = await rawSocket(n.port);
    sock.write('PROXY TCP4 ::1 127.0.0.1 1 2\r\n');
    assert.notEqual(await tryLogin({ sock }, carol.name, carol.password), 'ok');
    await until(
      'refusal',
      () => logLines(n).filter((l) => l.event === 'connection.refused'),
      (l) => l.some((x) => /invalid PROXY v1 header: bad TCP4 address/.test(String(x.reason))),
    );
  });
});

test('header framing: complete only with its last byte; bad ones refused with the reason', () => {
  const v1 = Buffer.from('PROXY TCP4 192.0.2.7 127.0.0.1 40000 2222\r\n');
  const v2 = v2Header('PROXY', { addr: [192, 0, 2, 8], port: 40001 }, Buffer.from([4, 0, 1, 0]));
  for (const [h, addr] of [
    [v1, '192.0.2.7'],
    [v2, '192.0.2.8'],
  ] as const) {
    for (let i = 1; i < h.length; i++)
      assert.equal(parseHeader(h.subarray(0, i), 4096), null, `${i}`);
    const whole = Buffer.concat([h, Buffer.from('SSH-2.0-x\r\n')]);
    assert.deepEqual(parseHeader(whole, 4096), {
      header: { version: h === v1 ? 1 : 2, local: false, addr, port: h === v1 ? 40000 : 40001 },
      length: h.length,
    });
  }
  const refused: [Buffer, RegExp][] = [
    [Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'), / no PROXY header$/],
    [Buffer.from('GET / HTTP/1.1\r\n'), / no PROXY header$/],
    [Buffer.from('PROXY TCP4 192.0.2.7 127.0.0.1 99999 2222\r\n'), /bad port/],
    [Buffer.from('PROXY TCP6 192.0.2.7 127.0.0.1 1 2222\r\n'), /bad TCP6 address/],
    [Buffer.from('PROXY TCP5 a b 1 2\r\n'), /invalid PROXY v1 header/],
    [Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`), /longer than 107 bytes/],
    [
      Buffer.concat([v2.subarray(0, 14), Buffer.from([0x10, 0x00])]),
      /PROXY v2 header of 4112 bytes/,
    ],
    [Buffer.concat([v2.subarray(0, 12), Buffer.from([0x31]), v2.subarray(13)]), /invalid PROXY v2/],
  ];
  for (const [b, want] of refused)
    assert.throws(() => parseHeader(b, 4096), want, b.toString('latin1'));
});

describe('one node: the address in the header is the one limits and global rules see', () => {
  const fx = fixture();
  let n: TestServer;
  const dave = { name: 'dave', password: 'pw-dave-secret' };

  before(async () => {
    n = await fx.server({
      config: {
        proxyProtocol: ['127.0.0.1/32'],
        // the balancer itself (127.0.0.1) is in no allow list: only the header's address counts
        allowFrom: ['127.0.0.4/30'],
        denyFrom: ['127.0.0.6/32'],
        limits: { maxConnectionsPerAddress: 1 },
        logFormat: 'json',
        shutdownGrace: 2,
      },
    });
    n.addUser(dave.name, { password: dave.password });
  });

  /** A socket from the balancer's address with a v1 header naming `addr`. */
  async function proxied(addr: string): Promise<Socket> {
    const sock = await rawSocket(n.port);
    sock.write(`PROXY TCP4 ${addr} 127.0.0.1 40000 ${n.port}\r\n`);
    return sock;
  }

  test('maxConnectionsPerAddress counts the client address from the header, not the balancer', async () => {
    const held = await sshLogin({ sock: await proxied('127.0.0.5') }, dave.name, dave.password);
    try {
      // a second client at .5 is over the limit of 1; one at .4 is not (same balancer address)
      const second = await proxied('127.0.0.5');
      let told = '';
      second.on('data', (d: Buffer) => (told += d.toString()));
      await new Promise((r) => second.once('close', r));
      assert.equal(told, 'jailsftpd: too many connections from your address\r\n');
      assert.equal(
        await tryLogin({ sock: await proxied('127.0.0.4') }, dave.name, dave.password),
        'ok',
      );
      const refused = logLines(n).filter((l) => l.event === 'connection.refused');
      assert.deepEqual(
        refused.map((l) => [l.addr, l.reason]),
        [['127.0.0.5', 'too many connections from your address']],
      );
    } finally {
      held.conn.end();
      await held.closed;
    }
  });

  test('global allowFrom/denyFrom judge the address in the header', async () => {
    for (const [addr, reason] of [
      ['127.0.0.6', 'address 127.0.0.6 in global denyFrom 127.0.0.6/32'],
      ['127.0.0.9', 'address 127.0.0.9 not in global allowFrom 127.0.0.4/30'],
    ]) {
      assert.notEqual(
        await tryLogin({ sock: await proxied(addr!) }, dave.name, dave.password),
        'ok',
      );
      await until(
        `${addr} refused`,
        () => logLines(n).filter((l) => l.event === 'connection.refused' && l.addr === addr),
        (l) => l.some((x) => x.reason === reason),
      );
    }
    assert.equal(
      await tryLogin({ sock: await proxied('127.0.0.7') }, dave.name, dave.password),
      'ok',
    );
  });

  test('a header that arrives a byte at a time, then SSH: served with its address', async () => {
    const sock = await rawSocket(n.port);
    const header = Buffer.from(`PROXY TCP4 127.0.0.5 127.0.0.1 40000 ${n.port}\r\n`);
    for (const b of header) {
      sock.write(Buffer.from([b]));
      await sleep(3);
    }
    assert.equal(await tryLogin({ sock }, dave.name, dave.password), 'ok');
    await until(
      'login from .5',
      () => logLines(n).filter((l) => l.event === 'login' && l.addr === '127.0.0.5'),
      (l) => l.length >= 2,
    );
  });

  test('SIGHUP applies a new proxyProtocol to new connections', async () => {
    const cfg = JSON.parse(readFileSync(n.configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      n.configFile,
      JSON.stringify({
        ...cfg,
        proxyProtocol: [],
        allowFrom: [],
        limits: { maxConnectionsPerAddress: 8 },
      }),
    );
    n.proc.kill('SIGHUP');
    await until(
      'reload',
      () => logLines(n).filter((l) => l.event === 'reload'),
      (l) => l.length > 0,
    );
    // 127.0.0.1 is a direct client now: a header from it is refused, a plain login works
    assert.notEqual(
      await tryLogin({ sock: await proxied('127.0.0.5') }, dave.name, dave.password),
      'ok',
    );
    await until(
      'refusal',
      () => logLines(n).filter((l) => l.event === 'connection.refused'),
      (l) => l.some((x) => x.reason === 'PROXY v1 header from 127.0.0.1, not in proxyProtocol'),
    );
    const direct = await tryLogin({ port: n.port }, dave.name, dave.password);
    assert.equal(direct, 'ok', JSON.stringify(logLines(n).slice(-5)));
  });
});

test('proxyProtocol is checked as a list of CIDRs, in the config file and on the command line', async () => {
  const fx = fixture();
  const dir = fx.tempDir('jailsftp-ppcfg-');
  const file = join(dir, 'config.json');
  const serve = async (config: unknown, extra: string[] = []) => {
    writeFileSync(file, JSON.stringify(config));
    return run(
      process.execPath,
      [CLI, 'serve', '--config', file, '--listen', '127.0.0.1:0', ...extra],
      {
        cwd: dir,
        timeoutMs: 20000,
      },
    );
  };
  for (const [config, want] of [
    [{ proxyProtocol: '127.0.0.1/32' }, /"proxyProtocol" must be an array of CIDRs, not string/],
    [{ proxyProtocol: ['127.0.0.1/33'] }, /"proxyProtocol\[0\]": invalid CIDR "127\.0\.0\.1\/33"/],
    [{ proxyProtocol: ['haproxy'] }, /"proxyProtocol\[0\]": invalid CIDR "haproxy"/],
  ] as const) {
    const r = await serve(config);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, want);
  }
  const bad = await serve({}, ['--proxy-protocol', '127.0.0.1/32,nope']);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--proxy-protocol: invalid CIDR "nope"/);
});

test('three nodes starting at once on one empty keys directory end up with the same host keys', async (t) => {
  const fx = fixture(t);
  const keys = join(fx.tempDir('jailsftp-keys-'), 'keys');
  const ns = await Promise.all([1, 2, 3].map(() => fx.server({ config: { hostKeys: keys } })));
  const lines = (n: TestServer, re: RegExp): string[] =>
    n
      .output()
      .split('\n')
      .filter((l) => re.test(l))
      .sort();
  const fps = ns.map((n) => lines(n, /^host key /));
  assert.equal(fps[0]!.length, 2, fps[0]!.join('\n'));
  assert.deepEqual(fps[1], fps[0]);
  assert.deepEqual(fps[2], fps[0]);
  // each key was created by one node; the others took it
  assert.equal(ns.flatMap((n) => lines(n, /^created host key /)).length, 2);
  const r = ns[0]!.cli(['hostkey']);
  assert.equal(r.status, 0, r.stderr);
  for (const fp of fps[0]!) assert.ok(r.stdout.includes(fp.replace(/^host key /, '')), fp);
});

describe('deployment files', () => {
  test('deploy/haproxy.cfg passes haproxy -c', { skip: needs('haproxy') }, async () => {
    const r = await run('haproxy', ['-c', '-f', join(ROOT, 'deploy/haproxy.cfg')]);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const cfg = readFileSync(join(ROOT, 'deploy/haproxy.cfg'), 'utf8');
    for (const want of [
      'mode tcp',
      'send-proxy-v2',
      'tcp-check expect rstring ^SSH-2.0-',
      'balance roundrobin',
    ])
      assert.ok(cfg.includes(want), want);
    for (const p of [2301, 2302, 2303]) assert.ok(cfg.includes(`127.0.0.1:${p}`), String(p));
  });

  test('deploy/jailsftpd.service passes systemd-analyze verify', async (t) => {
    const unit = join(ROOT, 'deploy/jailsftpd.service');
    const text = readFileSync(unit, 'utf8');
    for (const want of [
      'User=jailsftp',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'CapabilityBoundingSet=',
      'SystemCallFilter=@system-service',
      'KillSignal=SIGTERM',
      'Restart=on-failure',
    ])
      assert.ok(text.includes(want), want);
    const has = await run('sh', ['-c', 'command -v systemd-analyze']);
    if (has.status !== 0) return t.skip('systemd-analyze missing: apt-get install systemd');
    const r = await run('systemd-analyze', ['verify', '--man=no', unit]);
    // verify also complains about the host (no systemd running in a container, the
    // node binary's path): only lines about the unit's own settings count
    const own = (r.stderr + r.stdout)
      .split('\n')
      .filter(
        (l) =>
          l.includes('jailsftpd.service') && !/Command .* is not executable|No such file/.test(l),
      );
    assert.deepEqual(own, []);
  });

  test('deploy/node.example.json is a valid node config', () => {
    const c = readConfigFile(join(ROOT, 'deploy/node.example.json'));
    assert.deepEqual(c.proxyProtocol, ['127.0.0.1/32']);
    assert.equal((c as { listen?: string }).listen, '127.0.0.1:2301');
  });
});

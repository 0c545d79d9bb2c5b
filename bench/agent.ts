// A separate client process for the workloads that use the ssh2 library, so that its CPU use does
// not disturb the benchmark's own /proc sampling:
//   node dist/bench/agent.js MODE 'JSON'
//   fastput | fastget   ssh2-sftp-client fastPut/fastGet; prints {"secs":...}
//   idle                opens N authenticated SFTP sessions, prints "READY N", holds them until
//                       stdin closes or SIGTERM
//   logins              password logins in parallel for a while; prints {"ok","failed","secs",...}
//   flood               raw SFTP channel: OPEN a file, pipeline COUNT READs of SIZE bytes, then
//                       never reads a reply; prints "SENT" and holds the connection until SIGTERM
//   ops                 small-request commands on one session, for the curves (bench/agent-ops.ts)
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import SftpClient from 'ssh2-sftp-client';
import { OpenFlag, PacketType, SFTP_VERSION } from '../common/wire.js';
import { ops } from './agent-ops.js';

interface Args {
  host: string;
  port: number;
  user: string;
  keyFile?: string;
  password?: string;
  local?: string;
  remote?: string;
  chunkSize?: number;
  concurrency?: number;
  count?: number;
  size?: number;
  fileSize?: number;
  durationMs?: number;
  parallel?: number;
}

function connectOpts(a: Args, withKey = true): ssh2.ConnectConfig {
  return {
    host: a.host,
    port: a.port,
    username: a.user,
    ...(withKey && a.keyFile ? { privateKey: readFileSync(a.keyFile) } : {}),
    ...(a.password && !withKey ? { password: a.password } : {}),
    readyTimeout: 60000,
  };
}

async function fast(mode: 'fastput' | 'fastget', a: Args): Promise<void> {
  const c = new SftpClient();
  await c.connect(connectOpts(a));
  const opts = {
    ...(a.chunkSize ? { chunkSize: a.chunkSize } : {}),
    ...(a.concurrency ? { concurrency: a.concurrency } : {}),
  };
  const t0 = performance.now();
  if (mode === 'fastput') await c.fastPut(a.local!, a.remote!, opts);
  else await c.fastGet(a.remote!, a.local!, opts);
  const secs = (performance.now() - t0) / 1000;
  await c.end();
  process.stdout.write(JSON.stringify({ secs }) + '\n');
}

function openSession(a: Args): Promise<ssh2.Client> {
  return new Promise((res, rej) => {
    const c = new ssh2.Client();
    c.on('error', rej);
    c.on('ready', () =>
      c.sftp((err) => {
        if (err) rej(err);
        else res(c);
      }),
    );
    c.connect(connectOpts(a));
  });
}

async function idle(a: Args): Promise<void> {
  const n = a.count ?? 200;
  const conns: ssh2.Client[] = [];
  const batch = 16;
  for (let i = 0; i < n; i += batch) {
    const k = Math.min(batch, n - i);
    conns.push(...(await Promise.all(Array.from({ length: k }, () => openSession(a)))));
  }
  process.stdout.write(`READY ${conns.length}\n`);
  await new Promise<void>((r) => {
    process.stdin.on('end', r);
    process.stdin.on('close', r);
    process.stdin.resume();
    process.on('SIGTERM', r);
  });
  for (const c of conns) c.end();
  setTimeout(() => process.exit(0), 500).unref();
}

function oneLogin(a: Args): Promise<boolean> {
  return new Promise((res) => {
    const c = new ssh2.Client();
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      c.end();
      res(ok);
    };
    c.on('error', () => finish(false));
    c.on('close', () => finish(false));
    c.on('ready', () => finish(true));
    c.connect({ ...connectOpts(a, false), tryKeyboard: false });
  });
}

async function logins(a: Args): Promise<void> {
  const end = Date.now() + (a.durationMs ?? 10000);
  let ok = 0;
  let failed = 0;
  const lat: number[] = [];
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (Date.now() < end) {
      const s = performance.now();
      if (await oneLogin(a)) {
        ok++;
        lat.push(performance.now() - s);
      } else failed++;
    }
  };
  await Promise.all(Array.from({ length: a.parallel ?? 8 }, worker));
  const secs = (performance.now() - t0) / 1000;
  lat.sort((x, y) => x - y);
  const medianMs = lat.length ? lat[lat.length >> 1]! : NaN;
  process.stdout.write(JSON.stringify({ ok, failed, secs, medianMs }) + '\n');
}

function packet(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(body.length + 1, 0);
  h[4] = type;
  return Buffer.concat([h, body]);
}
function str(s: Buffer | string): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  const l = Buffer.alloc(4);
  l.writeUInt32BE(b.length, 0);
  return Buffer.concat([l, b]);
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}
function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n), 0);
  return b;
}

async function flood(a: Args): Promise<void> {
  const count = a.count ?? 50000;
  const size = a.size ?? 255 * 1024;
  const fileSize = a.fileSize ?? 64 * 1048576;
  const c = new ssh2.Client();
  await new Promise<void>((res, rej) => {
    c.on('error', rej);
    c.on('ready', () => res());
    c.connect(connectOpts(a));
  });
  const ch = await new Promise<ssh2.ClientChannel>((res, rej) =>
    c.subsys('sftp', (err, s) => (err ? rej(err) : res(s))),
  );
  // INIT, then OPEN; read replies until the HANDLE arrives
  let buf = Buffer.alloc(0);
  const replies: Buffer[] = [];
  let wake: (() => void) | undefined;
  const onData = (d: Buffer): void => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const n = buf.readUInt32BE(0);
      replies.push(buf.subarray(4, 4 + n));
      buf = buf.subarray(4 + n);
    }
    wake?.();
  };
  ch.on('data', onData);
  const next = async (): Promise<Buffer> => {
    while (replies.length === 0) await new Promise<void>((r) => (wake = r));
    return replies.shift()!;
  };
  ch.write(packet(PacketType.INIT, u32(SFTP_VERSION)));
  const version = await next();
  if (version[0] !== PacketType.VERSION)
    throw new Error(`expected VERSION, got type ${version[0]}`);
  ch.write(
    packet(PacketType.OPEN, Buffer.concat([u32(1), str(a.remote!), u32(OpenFlag.READ), u32(0)])),
  );
  const h = await next();
  if (h[0] !== PacketType.HANDLE) throw new Error(`OPEN failed: reply type ${h[0]}`);
  const handle = h.subarray(9, 9 + h.readUInt32BE(5));
  // from here on nothing is read: the server must stop sending when the window closes
  ch.off('data', onData);
  ch.pause();
  const hs = str(handle);
  const per = Math.max(1, Math.floor(fileSize / size));
  for (let i = 0; i < count; i++) {
    ch.write(
      packet(PacketType.READ, Buffer.concat([u32(100 + i), hs, u64((i % per) * size), u32(size)])),
    );
  }
  process.stdout.write('SENT\n');
  await new Promise<void>((r) => process.on('SIGTERM', r));
  c.end();
  setTimeout(() => process.exit(0), 300).unref();
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  const a = JSON.parse(process.argv[3] ?? '{}') as Args;
  if (mode === 'fastput' || mode === 'fastget') await fast(mode, a);
  else if (mode === 'idle') await idle(a);
  else if (mode === 'logins') await logins(a);
  else if (mode === 'flood') await flood(a);
  else if (mode === 'ops') await ops(a);
  else throw new Error(`unknown mode ${mode}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`agent: ${(e as Error).message}\n`);
  process.exit(1);
});

// Shared tools of the attack campaign (issue 6): a raw SFTP client on ssh2's client channel that can
// send any packet in any order, and the checks every attack ends with (canaries outside the homes,
// a fresh login, sizes within the quota, server memory).
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { ClientChannel } from 'ssh2';
import type { TestContext } from 'node:test';
import { AttrFlag, OpenFlag, PacketType, Reader, SFTP_VERSION, Writer } from '../../common/wire.js';
import { sha256File } from './files.js';
import { rss } from './procfs.js';
import type { TestServer, TestUser } from './server.js';

/** The packet types and OPEN flags of common/wire.ts, under the short names the attack tests use. */
export const T = PacketType;
export const F = OpenFlag;

/** Builds packet bodies field by field (no length prefix: Raw.req frames them). */
export class Pkt {
  private parts: Buffer[] = [];
  u8(v: number): this {
    this.parts.push(Buffer.from([v & 0xff]));
    return this;
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    this.parts.push(b);
    return this;
  }
  /** any uint64, also past 2^53 (common/wire.ts's Writer stops there) */
  u64(v: number | bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(v));
    this.parts.push(b);
    return this;
  }
  str(s: string | Buffer): this {
    const b = typeof s === 'string' ? Buffer.from(s) : s;
    this.u32(b.length);
    this.parts.push(b);
    return this;
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  /** attrs with only size and/or permissions */
  attrs(a: { size?: number | bigint; perm?: number } = {}): this {
    let flags = 0;
    if (a.size !== undefined) flags |= AttrFlag.SIZE;
    if (a.perm !== undefined) flags |= AttrFlag.PERMISSIONS;
    this.u32(flags);
    if (a.size !== undefined) this.u64(a.size);
    if (a.perm !== undefined) this.u32(a.perm);
    return this;
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export interface Reply {
  type: number;
  id: number;
  body: Buffer;
  /** STATUS code and message */
  code?: number;
  msg?: string;
  /** HANDLE */
  handle?: Buffer;
  /** DATA */
  data?: Buffer;
  /** NAME: file names */
  names?: string[];
  /** ATTRS: size */
  size?: number;
  /** total packet length on the wire (without the length prefix) */
  length: number;
}

function parseReply(body: Buffer): Reply {
  const rd = new Reader(body);
  const type = rd.u8();
  const id = rd.u32();
  const r: Reply = { type, id, body, length: body.length };
  if (type === T.STATUS) {
    r.code = rd.u32();
    r.msg = rd.string();
  } else if (type === T.HANDLE) {
    r.handle = rd.bytes();
  } else if (type === T.DATA) {
    r.data = rd.bytes();
  } else if (type === T.NAME) {
    const count = rd.u32();
    r.names = [];
    for (let i = 0; i < count; i++) {
      r.names.push(rd.string());
      rd.bytes(); // long name
      rd.attrs();
    }
  } else if (type === T.ATTRS) {
    r.size = rd.attrs().size;
  }
  return r;
}

export interface Login {
  password?: string;
  privateKey?: string;
}

export function sshConnect(srv: TestServer, user: string, login: Login): Promise<ssh2.Client> {
  return new Promise((res, rej) => {
    const c = new ssh2.Client();
    c.on('ready', () => res(c));
    c.on('error', rej);
    c.connect({
      host: srv.host,
      port: srv.port,
      username: user,
      password: login.password,
      privateKey: login.privateKey,
      readyTimeout: 30000,
      tryKeyboard: false,
    });
  });
}

/** A raw SFTP client: any packet, in any order, replies matched by id. */
export class Raw {
  private buf: Buffer = Buffer.alloc(0);
  private waiting = new Map<number, (r: Reply) => void>();
  private nextId = 1;
  closed = false;
  readonly done: Promise<void>;
  /** replies whose id matched no request */
  stray: Reply[] = [];
  maxReply = 0;

  constructor(
    readonly client: ssh2.Client,
    readonly ch: ClientChannel,
  ) {
    ch.on('data', (d: Buffer) => this.onData(d));
    this.done = new Promise((res) => {
      const fin = (): void => {
        this.closed = true;
        for (const [, w] of this.waiting) w({ type: -1, id: -1, body: Buffer.alloc(0), length: 0 });
        this.waiting.clear();
        res();
      };
      ch.on('close', fin);
      client.on('close', fin);
    });
    ch.on('error', () => undefined);
    client.on('error', () => undefined);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= 4) {
      const n = this.buf.readUInt32BE(0);
      if (this.buf.length < 4 + n) break;
      const body = this.buf.subarray(4, 4 + n);
      this.buf = this.buf.subarray(4 + n);
      this.maxReply = Math.max(this.maxReply, n);
      const r = parseReply(body);
      const w = this.waiting.get(r.id);
      if (w) {
        this.waiting.delete(r.id);
        w(r);
      } else this.stray.push(r);
    }
  }

  /** Writes bytes as they are (no framing). */
  sendRaw(b: Buffer): boolean {
    return this.ch.write(b);
  }

  /** Sends a packet of `type` with `body` after the id; resolves with the reply (type -1: closed). */
  req(type: number, body: Buffer | Pkt = Buffer.alloc(0), id = this.nextId++): Promise<Reply> {
    const b = Buffer.isBuffer(body) ? body : body.build();
    const head = new Writer(9).u8(type).u32(id).finish();
    head.writeUInt32BE(5 + b.length, 0);
    const p = new Promise<Reply>((res) => this.waiting.set(id >>> 0, res));
    if (this.closed) return Promise.resolve({ type: -1, id, body: Buffer.alloc(0), length: 0 });
    this.ch.write(Buffer.concat([head, b]));
    return p;
  }

  ext(name: string, body: Pkt = new Pkt()): Promise<Reply> {
    return this.req(T.EXTENDED, new Pkt().str(name).raw(body.build()));
  }

  path(type: number, p: string | Buffer): Promise<Reply> {
    return this.req(type, new Pkt().str(p));
  }

  open(p: string | Buffer, flags: number, attrs: { size?: number; perm?: number } = {}) {
    return this.req(T.OPEN, new Pkt().str(p).u32(flags).attrs(attrs));
  }

  async openOk(p: string, flags: number): Promise<Buffer> {
    const r = await this.open(p, flags);
    if (!r.handle) throw new Error(`open ${p}: ${r.code} ${r.msg}`);
    return r.handle;
  }

  write(h: Buffer, offset: number | bigint, data: Buffer): Promise<Reply> {
    return this.req(T.WRITE, new Pkt().str(h).u64(offset).str(data));
  }

  read(h: Buffer, offset: number | bigint, len: number): Promise<Reply> {
    return this.req(T.READ, new Pkt().str(h).u64(offset).u32(len));
  }

  close(h: Buffer): Promise<Reply> {
    return this.req(T.CLOSE, new Pkt().str(h));
  }

  /** statvfs@openssh.com: free bytes (bavail * frsize) */
  async free(p = '/'): Promise<number> {
    const r = await this.ext('statvfs@openssh.com', new Pkt().str(p));
    if (r.type !== T.EXTENDED_REPLY) throw new Error(`statvfs: ${r.code} ${r.msg}`);
    // type, id, then f_bsize, f_frsize, f_blocks, f_bfree, f_bavail, ...
    const rd = new Reader(r.body);
    rd.u8();
    rd.u32();
    rd.u64();
    const frsize = rd.u64();
    rd.u64();
    rd.u64();
    return frsize * rd.u64();
  }

  /** Uploads data to a new file in 32 KiB writes, all in flight at once; returns the statuses. */
  async put(p: string, data: Buffer, chunk = 32768): Promise<Reply[]> {
    const h = await this.openOk(p, F.WRITE | F.CREAT | F.TRUNC);
    const rs: Promise<Reply>[] = [];
    for (let o = 0; o < data.length; o += chunk)
      rs.push(this.write(h, o, data.subarray(o, o + chunk)));
    const out = await Promise.all(rs);
    await this.close(h);
    return out;
  }

  end(): Promise<void> {
    this.client.end();
    return this.done;
  }

  /** Drops the TCP connection without any goodbye. */
  drop(): void {
    (this.client as unknown as { _sock?: { destroy(): void } })._sock?.destroy();
  }
}

export async function rawSftp(
  srv: TestServer,
  user: TestUser | string,
  login?: Login,
): Promise<Raw> {
  const name = typeof user === 'string' ? user : user.name;
  const l = login ?? (typeof user === 'string' ? {} : { password: user.password });
  const c = await sshConnect(srv, name, l);
  const ch = await new Promise<ClientChannel>((res, rej) =>
    c.subsys('sftp', (e: Error | undefined, s: ClientChannel) => (e ? rej(e) : res(s))),
  );
  const raw = new Raw(c, ch);
  const v = await new Promise<Buffer>((res, rej) => {
    let acc = Buffer.alloc(0);
    const on = (d: Buffer): void => {
      acc = Buffer.concat([acc, d]);
      if (acc.length >= 4 && acc.length >= 4 + acc.readUInt32BE(0)) {
        ch.off('data', on);
        res(acc);
      }
    };
    // the Raw parser sees VERSION as a stray reply; we only need to know it came
    ch.on('data', on);
    ch.once('close', () => rej(new Error('channel closed before VERSION')));
    ch.write(new Writer().u8(T.INIT).u32(SFTP_VERSION).finish());
  });
  if (v[4] !== T.VERSION) throw new Error('no VERSION');
  raw.stray = [];
  return raw;
}

export { fdCount, rss } from './procfs.js';

// ---- checks ---------------------------------------------------------------------------------------

/** Canary files outside every home: one next to the homes dir, one in a directory under /tmp. */
export class Canaries {
  readonly outsideDir: string;
  readonly files: string[];
  /** the canaries' contents: a reply that carries one has leaked an outside file */
  readonly tokens: string[];
  private sums: Map<string, string>;
  private listing: string[];

  /** With t, the canaries are removed after that test. */
  constructor(srv: TestServer, t?: Pick<TestContext, 'after'>) {
    t?.after(() => this.cleanup());
    this.outsideDir = mkdtempSync(join(tmpdir(), 'jailsftp-canary-'));
    mkdirSync(join(this.outsideDir, 'sub'));
    this.files = [
      join(srv.dir, 'canary.txt'),
      join(this.outsideDir, 'secret.txt'),
      join(this.outsideDir, 'sub', 'deep.txt'),
    ];
    this.tokens = this.files.map(() => `canary-token-${randomBytes(12).toString('hex')}`);
    this.files.forEach((f, i) => writeFileSync(f, `${this.tokens[i]}\n`));
    this.sums = new Map(this.files.map((f) => [f, sha256File(f)]));
    this.listing = this.snapshot(srv);
    this.srv = srv;
  }
  private readonly srv: TestServer;

  /** Everything outside the homes dir in the scratch dir, and the outside dir, by name and size. */
  private snapshot(srv: TestServer): string[] {
    const out: string[] = [];
    const walk = (d: string, skip?: string): void => {
      for (const n of readdirSync(d)) {
        const p = join(d, n);
        if (p === skip) continue;
        const st = lstatSync(p);
        out.push(`${p} ${st.mode.toString(8)} ${st.isFile() ? st.size : '-'}`);
        if (st.isDirectory()) walk(p);
      }
    };
    walk(this.outsideDir);
    for (const n of readdirSync(srv.dir)) {
      const p = join(srv.dir, n);
      if (p === srv.homesDir || n === 'users' || n === 'keys') continue;
      const st = lstatSync(p);
      out.push(`${p} ${st.mode.toString(8)} ${st.isDirectory() ? 'dir' : st.size}`);
    }
    for (const d of [srv.dir, srv.homesDir, tmpdir()])
      out.push(`${d} ${lstatSync(d).mode.toString(8)}`);
    return out.sort();
  }

  /** Throws when any canary changed or anything appeared or vanished outside the homes. */
  check(): void {
    for (const [f, s] of this.sums) {
      const now = sha256File(f);
      if (now !== s) throw new Error(`canary ${f} changed`);
    }
    const now = this.snapshot(this.srv);
    const a = JSON.stringify(this.listing);
    const b = JSON.stringify(now);
    if (a !== b) throw new Error(`outside changed:\nbefore ${a}\nafter  ${b}`);
  }

  cleanup(): void {
    rmSync(this.outsideDir, { recursive: true, force: true });
  }
}

/** Samples the server's RSS every 50 ms until stopped; returns the peak. */
export function rssSampler(pid: number): { stop(): number; peak(): number } {
  let peak = rss(pid);
  const t = setInterval(() => {
    try {
      peak = Math.max(peak, rss(pid));
    } catch {
      /* exited */
    }
  }, 50);
  return {
    peak: () => peak,
    stop() {
      clearInterval(t);
      return peak;
    },
  };
}

/** A fresh login works and answers REALPATH. */
export async function freshLogin(srv: TestServer, user: TestUser): Promise<void> {
  const r = await rawSftp(srv, user);
  const rep = await r.path(T.REALPATH, '.');
  await r.end();
  if (rep.type !== T.NAME || rep.names?.[0] !== '/') throw new Error(`fresh login: ${rep.type}`);
}

export const MB = 1024 * 1024;

/** One password login from a local address: resolves with whether it worked and how long. */
export function tryLogin(
  srv: TestServer,
  user: string,
  password: string,
  localAddress = '127.0.0.1',
): Promise<{ ok: boolean; ms: number; error?: string }> {
  const t0 = performance.now();
  return new Promise((res) => {
    const c = new ssh2.Client();
    let settled = false;
    const done = (ok: boolean, error?: string): void => {
      if (settled) return;
      settled = true;
      c.end();
      res({ ok, ms: performance.now() - t0, error });
    };
    c.on('ready', () => done(true));
    c.on('error', (e) => done(false, e.message));
    c.on('close', () => done(false, 'closed'));
    c.connect({
      host: srv.host,
      port: srv.port,
      localAddress,
      username: user,
      password,
      readyTimeout: 60000,
      tryKeyboard: false,
    });
  });
}

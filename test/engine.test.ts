// Unit tests of the SFTP engine against the in-memory storage: real encoded packets over an
// in-process stream, asserting the replies a client gets (bytes, status codes and messages, order).
import test from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { OpenFlag, PacketType, Reader, SFTP_VERSION, Status, Writer } from '../common/wire.js';
import { SftpEngine } from '../server/sftp/engine.js';
import { Framer } from '../server/sftp/framer.js';
import { HandleTable } from '../server/sftp/handles.js';
import { MemoryStorage } from './helpers/memory-storage.js';
import type { Storage } from '../server/fs/storage.js';
import { Jail } from '../server/fs/jail.js';
import { Ledger } from '../server/fs/quota.js';
import { UserFs } from '../server/fs/userfs.js';

/** An engine on an in-memory channel; replies are read back as the client would. */
class Wire<S extends Storage = MemoryStorage> {
  private readonly replies: Buffer[] = [];
  private wake: (() => void) | undefined;
  closed = false;
  private nextId = 1;
  readonly ch: Duplex;
  /** size of the memory behind each chunk the engine wrote (what a reply holds while it waits) */
  readonly held: number[] = [];
  /** how many replies each chunk the engine wrote carried */
  readonly perWrite: number[] = [];

  constructor(readonly fs: S) {
    const framer = new Framer();
    this.ch = new Duplex({
      read() {},
      write: (chunk: Buffer, _enc, cb) => {
        this.held.push(chunk.buffer.byteLength);
        const bodies = framer.push(chunk);
        this.perWrite.push(bodies.length);
        for (const b of bodies) this.replies.push(Buffer.from(b));
        this.wake?.();
        cb();
      },
    });
    new SftpEngine(
      this.ch,
      { fs, handles: new HandleTable(16), user: 'ann' },
      { onClosed: () => (this.closed = true) },
    );
  }

  /** Builds a request packet with a fresh id. */
  packet(type: PacketType, build: (w: Writer) => void = () => undefined): [Buffer, number] {
    const id = this.nextId++;
    const w = new Writer().u8(type).u32(id);
    build(w);
    return [w.finish(), id];
  }

  send(...packets: Buffer[]): void {
    this.ch.push(Buffer.concat(packets));
  }

  async reply(): Promise<Reader & { type: number; id: number }> {
    const deadline = Date.now() + 3000;
    while (this.replies.length === 0) {
      if (Date.now() > deadline) throw new Error('no reply');
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 50);
      });
    }
    const r = new Reader(this.replies.shift()!);
    return Object.assign(r, { type: r.u8(), id: r.u32() });
  }

  /** Sends one request and returns its reply, checking the id. */
  async call(type: PacketType, build?: (w: Writer) => void): Promise<Reader & { type: number }> {
    const [p, id] = this.packet(type, build);
    this.send(p);
    const r = await this.reply();
    assert.equal(r.id, id, 'reply to this request');
    return r;
  }

  async status(type: PacketType, build?: (w: Writer) => void): Promise<[Status, string]> {
    const r = await this.call(type, build);
    assert.equal(r.type, PacketType.STATUS, `a STATUS reply, got type ${r.type}`);
    return [r.u32(), r.string()];
  }

  async open(path: string, pflags: number): Promise<Buffer> {
    const r = await this.call(PacketType.OPEN, (w) => w.string(path).u32(pflags).u32(0));
    assert.equal(r.type, PacketType.HANDLE, `OPEN ${path} gives a handle`);
    return r.bytes();
  }

  async init(): Promise<string[]> {
    this.send(new Writer().u8(PacketType.INIT).u32(SFTP_VERSION).finish());
    const r = new Reader((await this.replyRaw()) as Buffer);
    assert.equal(r.u8(), PacketType.VERSION);
    assert.equal(r.u32(), 3);
    const names: string[] = [];
    for (let rest = r.rest(); rest.length > 0;) {
      const e = new Reader(rest);
      names.push(e.string());
      e.string();
      rest = e.rest();
    }
    return names;
  }

  private async replyRaw(): Promise<Buffer> {
    for (let i = 0; i < 60 && this.replies.length === 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    return this.replies.shift()!;
  }
}

async function session(): Promise<Wire> {
  const w = new Wire(new MemoryStorage());
  await w.init();
  return w;
}

const WRITE_NEW = OpenFlag.WRITE | OpenFlag.CREAT | OpenFlag.TRUNC;

test('VERSION lists the extensions the handler table implements', async () => {
  const names = await new Wire(new MemoryStorage()).init();
  for (const n of [
    'posix-rename@openssh.com',
    'limits@openssh.com',
    'check-file-name',
    'copy-data',
  ])
    assert.ok(names.includes(n), n);
});

test('open, write, close, then read back the same bytes, EOF at the end', async () => {
  const w = await session();
  const h = await w.open('/notes.txt', WRITE_NEW);
  assert.deepEqual(
    await w.status(PacketType.WRITE, (x) => x.bytes(h).u64(0).bytes(Buffer.from('hello world'))),
    [Status.OK, 'Success'],
  );
  assert.deepEqual(
    await w.status(PacketType.WRITE, (x) => x.bytes(h).u64(6).bytes(Buffer.from('WORLD!'))),
    [Status.OK, 'Success'],
  );
  assert.deepEqual(await w.status(PacketType.CLOSE, (x) => x.bytes(h)), [Status.OK, 'Success']);
  assert.equal(w.fs.content('/notes.txt')!.toString(), 'hello WORLD!');

  const r = await w.open('notes.txt', OpenFlag.READ);
  const d = await w.call(PacketType.READ, (x) => x.bytes(r).u64(0).u32(1000));
  assert.equal(d.type, PacketType.DATA);
  assert.equal(d.bytes().toString(), 'hello WORLD!');
  assert.deepEqual(await w.status(PacketType.READ, (x) => x.bytes(r).u64(12).u32(1000)), [
    Status.EOF,
    'End of file',
  ]);
  await w.status(PacketType.CLOSE, (x) => x.bytes(r));
  assert.equal(w.fs.openCount, 0, 'every file closed');
});

test('READDIR pages 100 names at a time, then EOF', async () => {
  const w = await session();
  for (let i = 0; i < 250; i++) w.fs.put(`/d/f${String(i).padStart(3, '0')}`, 'x'.repeat(i));
  const [open] = [await w.call(PacketType.OPENDIR, (x) => x.string('/d'))];
  assert.equal(open.type, PacketType.HANDLE);
  const h = open.bytes();
  const pages: string[][] = [];
  for (;;) {
    const r = await w.call(PacketType.READDIR, (x) => x.bytes(h));
    if (r.type === PacketType.STATUS) {
      assert.deepEqual([r.u32(), r.string()], [Status.EOF, 'End of file']);
      break;
    }
    assert.equal(r.type, PacketType.NAME);
    const names: string[] = [];
    for (let n = r.u32(); n > 0; n--) {
      const name = r.string();
      const long = r.string();
      const attrs = r.attrs();
      if (name.startsWith('f')) {
        assert.equal(attrs.size, Number(name.slice(1)));
        assert.match(long, new RegExp(`^-rw-r--r-- .* ${name}$`));
      }
      names.push(name);
    }
    pages.push(names);
  }
  assert.deepEqual(
    pages.map((p) => p.length),
    [100, 100, 52],
  );
  assert.deepEqual(pages.flat().slice(0, 3), ['.', '..', 'f000']);
  assert.equal(new Set(pages.flat()).size, 252);
  await w.status(PacketType.CLOSE, (x) => x.bytes(h));
  assert.equal(w.fs.openCount, 0);
});

test('storage errors become the status code and message a client shows', async () => {
  const w = await session();
  w.fs.put('/dir/file', 'abc');
  w.fs.denied.add('/secret');
  assert.deepEqual(await w.status(PacketType.STAT, (x) => x.string('/missing')), [
    Status.NO_SUCH_FILE,
    'No such file',
  ]);
  assert.deepEqual(
    await w.status(PacketType.OPEN, (x) => x.string('/secret').u32(OpenFlag.READ).u32(0)),
    [Status.PERMISSION_DENIED, 'Permission denied'],
  );
  assert.deepEqual(await w.status(PacketType.REMOVE, (x) => x.string('/dir')), [
    Status.FAILURE,
    'Is a directory',
  ]);
  assert.deepEqual(await w.status(PacketType.RMDIR, (x) => x.string('/dir')), [
    Status.FAILURE,
    'Directory not empty',
  ]);
  assert.deepEqual(await w.status(PacketType.SYMLINK, (x) => x.string('/a').string('/b')), [
    Status.PERMISSION_DENIED,
    'symbolic links are not allowed',
  ]);
  assert.deepEqual(await w.status(PacketType.RENAME, (x) => x.string('/dir/file').string('/dir')), [
    Status.FAILURE,
    'File exists',
  ]);
});

test('a write over the quota fails with the free space in its message and writes nothing', async () => {
  const w = await session();
  w.fs.quota = 1000;
  w.fs.put('/old', Buffer.alloc(900));
  const h = await w.open('/new', WRITE_NEW);
  const [code, message] = await w.status(PacketType.WRITE, (x) =>
    x.bytes(h).u64(0).bytes(Buffer.alloc(101)),
  );
  assert.equal(code, Status.FAILURE);
  assert.match(message, /^quota exceeded: 100 B free$/);
  assert.equal(w.fs.content('/new')!.length, 0);
  assert.deepEqual(
    await w.status(PacketType.WRITE, (x) => x.bytes(h).u64(0).bytes(Buffer.alloc(100))),
    [Status.OK, 'Success'],
  );
});

test('an unknown extension, an unknown packet type and a short packet each get their status', async () => {
  const w = await session();
  assert.deepEqual(
    await w.status(PacketType.EXTENDED, (x) => x.string('frobnicate@example.com').u32(1)),
    [Status.OP_UNSUPPORTED, 'unsupported extension frobnicate@example.com'],
  );
  const [code] = await w.status(99 as PacketType);
  assert.equal(code, Status.BAD_MESSAGE);
  const [code2] = await w.status(PacketType.OPEN, (x) => x.u32(5)); // path length 5, no bytes
  assert.equal(code2, Status.BAD_MESSAGE);
  // the session goes on
  assert.equal(
    (await w.call(PacketType.REALPATH, (x) => x.string('a/../b'))).type,
    PacketType.NAME,
  );
});

test('replies come in request order even when a later request finishes first', async () => {
  const w = await session();
  w.fs.put('/slow', 'slow data');
  w.fs.put('/fast', 'fast data');
  w.fs.delays.set('/slow', 80);
  const a = await w.open('/slow', OpenFlag.READ);
  const b = await w.open('/fast', OpenFlag.READ);
  const [p1, id1] = w.packet(PacketType.READ, (x) => x.bytes(a).u64(0).u32(100));
  const [p2, id2] = w.packet(PacketType.READ, (x) => x.bytes(b).u64(0).u32(100));
  const [p3, id3] = w.packet(PacketType.STAT, (x) => x.string('/fast'));
  w.send(p1, p2, p3);
  const replies = [await w.reply(), await w.reply(), await w.reply()];
  assert.deepEqual(
    replies.map((r) => r.id),
    [id1, id2, id3],
  );
  assert.equal(replies[0]!.bytes().toString(), 'slow data');
  assert.equal(replies[1]!.bytes().toString(), 'fast data');
  assert.equal(replies[2]!.type, PacketType.ATTRS);
  assert.deepEqual(w.fs.finished, ['read /fast', 'read /slow'], 'the fast read finished first');
});

test('small replies ready together leave in one write; a large READ reply leaves on its own', async () => {
  const w = await session();
  w.fs.put('/a', 'x');
  w.fs.put('/big', Buffer.alloc(64 * 1024, 9));
  const h = await w.open('/big', OpenFlag.READ);
  const before = w.perWrite.length;
  const stat = () => w.packet(PacketType.STAT, (x) => x.string('/a'));
  const burst = Array.from({ length: 16 }, stat);
  const [read, readId] = w.packet(PacketType.READ, (x) =>
    x
      .bytes(h)
      .u64(0)
      .u32(64 * 1024),
  );
  const after = Array.from({ length: 4 }, stat);
  w.send(...burst.map(([p]) => p), read, ...after.map(([p]) => p));
  const replies = [];
  for (let i = 0; i < 21; i++) replies.push(await w.reply());
  assert.deepEqual(
    replies.map((r) => r.id),
    [...burst.map(([, id]) => id), readId, ...after.map(([, id]) => id)],
    'in request order',
  );
  assert.ok(replies.every((r, i) => r.type === (i === 16 ? PacketType.DATA : PacketType.ATTRS)));
  // sftp-server and sshd do the same: one SSH packet, one encryption and one socket write for the
  // burst instead of one per reply; the 64 KiB of data are not copied into a joined buffer
  assert.deepEqual(w.perWrite.slice(before), [16, 1, 4], 'replies per channel write');
});

test('a bad or closed handle is refused with "invalid handle"; the session goes on', async () => {
  const w = await session();
  w.fs.put('/f', 'data');
  const bogus = Buffer.from('zzzz');
  assert.deepEqual(await w.status(PacketType.READ, (x) => x.bytes(bogus).u64(0).u32(10)), [
    Status.FAILURE,
    'invalid handle',
  ]);
  assert.deepEqual(await w.status(PacketType.CLOSE, (x) => x.bytes(Buffer.alloc(9))), [
    Status.FAILURE,
    'invalid handle',
  ]);
  const h = await w.open('/f', OpenFlag.READ);
  assert.deepEqual(await w.status(PacketType.READDIR, (x) => x.bytes(h)), [
    Status.FAILURE,
    'not a directory handle',
  ]);
  assert.deepEqual(
    await w.status(PacketType.WRITE, (x) => x.bytes(h).u64(0).bytes(Buffer.from('x'))),
    [Status.FAILURE, 'file not open for writing'],
  );
  await w.status(PacketType.CLOSE, (x) => x.bytes(h));
  assert.deepEqual(await w.status(PacketType.CLOSE, (x) => x.bytes(h)), [
    Status.FAILURE,
    'invalid handle',
  ]);
});

test('when the client ends the channel, every open handle is closed and the engine says so', async () => {
  const w = await session();
  w.fs.put('/f', 'data');
  await w.open('/f', OpenFlag.READ);
  await w.open('/g', WRITE_NEW);
  await w.call(PacketType.OPENDIR, (x) => x.string('/'));
  assert.equal(w.fs.openCount, 3);
  w.ch.push(null);
  for (let i = 0; i < 50 && !w.closed; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(w.closed, true, 'onClosed ran');
  assert.equal(w.fs.openCount, 0, 'files and directory closed');
});

test('a READ of 255 KiB on a 4 KiB file holds no 255 KiB buffer (OpenSSH asks that much)', async () => {
  const w = await session();
  const h = await w.open('/small.bin', WRITE_NEW);
  const data = Buffer.alloc(4096, 7);
  await w.status(PacketType.WRITE, (x) => x.bytes(h).u64(0).bytes(data));
  const r = await w.open('/small.bin', OpenFlag.READ);
  const d = await w.call(PacketType.READ, (x) =>
    x
      .bytes(r)
      .u64(0)
      .u32(255 * 1024),
  );
  assert.equal(d.type, PacketType.DATA);
  assert.deepEqual(d.bytes(), data);
  const held = w.held.at(-1)!;
  assert.ok(held < 64 * 1024, `the DATA reply holds ${held} bytes of memory`);
  assert.equal(
    (
      await w.status(PacketType.READ, (x) =>
        x
          .bytes(r)
          .u64(4096)
          .u32(255 * 1024),
      )
    )[0],
    Status.EOF,
  );
  // the file grows: a READ at the old end answers the new bytes
  await w.status(PacketType.WRITE, (x) => x.bytes(h).u64(4096).bytes(Buffer.from('more')));
  const m = await w.call(PacketType.READ, (x) =>
    x
      .bytes(r)
      .u64(4096)
      .u32(255 * 1024),
  );
  assert.equal(m.type, PacketType.DATA);
  assert.equal(m.bytes().toString(), 'more');
});

test('on disk, READs are sized by the size the handle saw: a file that grows after OPEN answers its new bytes, then full-size READs', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'jailsftp-readsize-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  writeFileSync(join(home, 'f'), Buffer.alloc(4096, 1));
  const w = new Wire(new UserFs(await Jail.open(home, 'sync'), new Ledger(0, 0)));
  await w.init();
  const r = await w.open('/f', OpenFlag.READ);
  const read = async (at: number) => {
    const d = await w.call(PacketType.READ, (x) =>
      x
        .bytes(r)
        .u64(at)
        .u32(255 * 1024),
    );
    return d.type === PacketType.DATA ? d.bytes() : Buffer.alloc(0);
  };
  assert.deepEqual(await read(0), Buffer.alloc(4096, 1));
  assert.equal((await read(4096)).length, 0, 'EOF at the end');
  // another program appends 1 MiB: the READ at the old end answers new bytes (a small one), and
  // the next READs are sized by the new size, not 4 KiB at a time
  appendFileSync(join(home, 'f'), Buffer.alloc(1024 * 1024, 2));
  const first = await read(4096);
  assert.ok(first.length > 0 && first.every((b) => b === 2), 'the new bytes');
  const next = await read(4096 + first.length);
  assert.equal(next.length, 255 * 1024, 'a full READ after the growth was seen');
  let at = 4096 + first.length + next.length;
  for (let d = await read(at); d.length > 0; d = await read(at)) at += d.length;
  assert.equal(at, 4096 + 1024 * 1024, 'every byte, then EOF');
});

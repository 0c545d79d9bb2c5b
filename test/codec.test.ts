// Property tests of the pure SFTP codec, the framer and the engine's handling of any input:
// decodeRequest never throws, every request type round-trips, the framer survives any chunking,
// and the engine answers every request with a readable id, in order, whatever the bytes.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import { decodeRequest, type Request } from '../server/sftp/codec.js';
import { Framer, FrameError } from '../server/sftp/framer.js';
import { MAX_PACKET, PacketType, Writer, type Attrs } from '../common/wire.js';
import { SftpEngine } from '../server/sftp/engine.js';
import { HandleTable } from '../server/sftp/handles.js';
import { MemoryStorage } from './helpers/memory-storage.js';

const u32 = fc.nat({ max: 0xffffffff });
const u64 = fc.maxSafeNat();
const bytes = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
// a valid path: UTF-8 text without NUL, within the length bound
const path = fc
  .string({ unit: 'binary', maxLength: 40 })
  .filter((s) => !s.includes('\0') && Buffer.byteLength(s) <= 4096);
const attrs: fc.Arbitrary<Attrs> = fc
  .record(
    {
      size: u64,
      ids: fc.tuple(u32, u32),
      permissions: u32,
      times: fc.tuple(u32, u32),
    },
    { requiredKeys: [] },
  )
  .map((r) => {
    const a: Attrs = {};
    if (r.size !== undefined) a.size = r.size;
    if (r.ids) [a.uid, a.gid] = r.ids;
    if (r.permissions !== undefined) a.permissions = r.permissions;
    if (r.times) [a.atime, a.mtime] = r.times;
    return a;
  });

const request: fc.Arbitrary<Request> = fc.oneof(
  fc.record({ type: fc.constant(PacketType.OPEN as const), id: u32, path, pflags: u32, attrs }),
  fc.record({
    type: fc.constantFrom(
      PacketType.CLOSE as const,
      PacketType.FSTAT as const,
      PacketType.READDIR as const,
    ),
    id: u32,
    handle: bytes,
  }),
  fc.record({
    type: fc.constant(PacketType.READ as const),
    id: u32,
    handle: bytes,
    offset: u64,
    length: u32,
  }),
  fc.record({
    type: fc.constant(PacketType.WRITE as const),
    id: u32,
    handle: bytes,
    offset: u64,
    data: fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)),
  }),
  fc.record({
    type: fc.constantFrom(
      PacketType.LSTAT as const,
      PacketType.STAT as const,
      PacketType.OPENDIR as const,
      PacketType.REMOVE as const,
      PacketType.RMDIR as const,
      PacketType.REALPATH as const,
      PacketType.READLINK as const,
    ),
    id: u32,
    path,
  }),
  fc.record({
    type: fc.constantFrom(PacketType.SETSTAT as const, PacketType.MKDIR as const),
    id: u32,
    path,
    attrs,
  }),
  fc.record({ type: fc.constant(PacketType.FSETSTAT as const), id: u32, handle: bytes, attrs }),
  fc.record({
    type: fc.constant(PacketType.RENAME as const),
    id: u32,
    oldPath: path,
    newPath: path,
  }),
  fc.record({ type: fc.constant(PacketType.SYMLINK as const), id: u32, first: path, second: path }),
  fc.record({
    type: fc.constant(PacketType.EXTENDED as const),
    id: u32,
    name: fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
    payload: bytes,
  }),
) as fc.Arbitrary<Request>;

/** Encodes a request body (without the length prefix), field by field as the draft lays it out. */
function encodeRequest(r: Request): Buffer {
  const w = new Writer().u8(r.type).u32(r.id);
  switch (r.type) {
    case PacketType.OPEN:
      w.string(r.path).u32(r.pflags).attrs(r.attrs);
      break;
    case PacketType.CLOSE:
    case PacketType.FSTAT:
    case PacketType.READDIR:
      w.bytes(r.handle);
      break;
    case PacketType.READ:
      w.bytes(r.handle).u64(r.offset).u32(r.length);
      break;
    case PacketType.WRITE:
      w.bytes(r.handle).u64(r.offset).bytes(r.data);
      break;
    case PacketType.SETSTAT:
    case PacketType.MKDIR:
      w.string(r.path).attrs(r.attrs);
      break;
    case PacketType.FSETSTAT:
      w.bytes(r.handle).attrs(r.attrs);
      break;
    case PacketType.RENAME:
      w.string(r.oldPath).string(r.newPath);
      break;
    case PacketType.SYMLINK:
      w.string(r.first).string(r.second);
      break;
    case PacketType.EXTENDED:
      w.string(r.name);
      return Buffer.concat([w.finish().subarray(4), r.payload]);
    default:
      w.string(r.path);
  }
  return Buffer.from(w.finish().subarray(4));
}

const frame = (body: Buffer): Buffer => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
};

test('decodeRequest never throws: any bytes decode or come back as {ok:false}', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (a) => {
      const d = decodeRequest(Buffer.from(a));
      assert.equal(typeof d.ok, 'boolean');
      if (!d.ok) {
        assert.equal(typeof d.reason, 'string');
        // the id is reported exactly when the first five bytes were there
        assert.equal(d.id === undefined, a.length < 5);
      }
    }),
    { numRuns: 5000 },
  );
});

test('every request type round-trips through encode and decodeRequest', () => {
  fc.assert(
    fc.property(request, (r) => {
      const d = decodeRequest(encodeRequest(r));
      assert.ok(d.ok, !d.ok ? d.reason : '');
      // (fast-check builds records without a prototype: compare plain copies)
      const plain = (x: Request): Request =>
        'attrs' in x ? { ...x, attrs: { ...x.attrs } } : ({ ...x } as Request);
      assert.deepStrictEqual(plain(d.value), plain(r));
    }),
    { numRuns: 3000 },
  );
});

test('truncated or mutated requests never throw, and keep their id when it is readable', () => {
  fc.assert(
    fc.property(
      request,
      fc.nat(),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      (r, cut, flips) => {
        const body = encodeRequest(r);
        const b = Buffer.from(body.subarray(0, cut % (body.length + 1)));
        for (const [i, v] of flips) if (b.length > 5) b[5 + (i % (b.length - 5))] = v;
        const d = decodeRequest(b);
        if (!d.ok && b.length >= 5) assert.equal(d.id, r.id);
      },
    ),
    { numRuns: 3000 },
  );
});

test('NUL bytes, invalid UTF-8 and over-long paths are rejected, not thrown', () => {
  for (const bad of [Buffer.from('a\0b'), Buffer.from([0xff, 0xfe]), Buffer.alloc(4097, 0x61)]) {
    const w = new Writer().u8(PacketType.STAT).u32(42).bytes(bad);
    const d = decodeRequest(w.finish().subarray(4));
    assert.equal(d.ok, false);
    assert.equal(!d.ok && d.id, 42);
  }
  // 64-bit values past 2^53 are refused rather than rounded
  const w = new Writer()
    .u8(PacketType.READ)
    .u32(7)
    .bytes(Buffer.alloc(4))
    .u32(0x200000)
    .u32(0)
    .u32(10);
  const d = decodeRequest(w.finish().subarray(4));
  assert.equal(d.ok, false);
});

test('the framer returns the same packets whatever the chunking', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.uint8Array({ minLength: 1, maxLength: 3000 }).map((a) => Buffer.from(a)),
        { maxLength: 20 },
      ),
      fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 50 }),
      (bodies, cuts) => {
        const stream = Buffer.concat(bodies.map(frame));
        const f = new Framer();
        const out: Buffer[] = [];
        let pos = 0;
        let i = 0;
        while (pos < stream.length) {
          const n = cuts[i++ % cuts.length]!;
          out.push(...f.push(stream.subarray(pos, pos + n)).map((b) => Buffer.from(b)));
          pos += n;
        }
        assert.deepStrictEqual(out, bodies);
        assert.equal(f.pending, 0);
      },
    ),
    { numRuns: 1000 },
  );
});

test('the framer refuses bad lengths with FrameError only', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.constant(0), fc.integer({ min: MAX_PACKET + 1, max: 0xffffffff })),
      fc.integer({ min: 1, max: 4 }),
      (len, split) => {
        const head = Buffer.alloc(8);
        head.writeUInt32BE(len);
        const f = new Framer();
        assert.throws(() => {
          f.push(head.subarray(0, split));
          f.push(head.subarray(split));
        }, FrameError);
      },
    ),
  );
});

/** An engine on an in-memory channel, with in-memory storage. */
function engineHarness(): { input: (b: Buffer) => void; replies: Buffer[]; ended: () => boolean } {
  const out: Buffer[] = [];
  const framer = new Framer();
  let ended = false;
  const ch = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      out.push(...framer.push(chunk).map((b) => Buffer.from(b)));
      cb();
    },
    final(cb) {
      ended = true;
      cb();
    },
  });
  const fs = new MemoryStorage();
  new SftpEngine(ch, { fs, handles: new HandleTable(16), user: 'fuzz' });
  return { input: (b) => ch.push(b), replies: out, ended: () => ended };
}

test('the engine answers every request with a readable id, in order, whatever its bytes', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.oneof(
          request.map(encodeRequest),
          fc
            .tuple(fc.integer({ min: 0, max: 255 }), u32, fc.uint8Array({ maxLength: 100 }))
            .map(([t, id, rest]) => {
              const b = Buffer.alloc(5 + rest.length);
              b[0] = t;
              b.writeUInt32BE(id, 1);
              Buffer.from(rest).copy(b, 5);
              return b;
            }),
        ),
        { maxLength: 30 },
      ),
      async (bodies) => {
        const e = engineHarness();
        const init = Buffer.from([PacketType.INIT, 0, 0, 0, 3]);
        e.input(Buffer.concat([init, ...bodies].map(frame)));
        const deadline = Date.now() + 5000;
        while (e.replies.length < bodies.length + 1 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 2));
        assert.equal(e.replies.length, bodies.length + 1, 'a reply for INIT and every request');
        assert.equal(e.replies[0]![0], PacketType.VERSION);
        const ids = e.replies.slice(1).map((r) => r.readUInt32BE(1));
        assert.deepEqual(
          ids,
          bodies.map((b) => b.readUInt32BE(1)),
        );
        assert.equal(e.ended(), false);
      },
    ),
    { numRuns: 300 },
  );
});

test('the engine ends only the session on a framing error or a missing INIT', async () => {
  for (const bad of [
    Buffer.from([0, 0, 0, 0]),
    Buffer.from([0xff, 0xff, 0xff, 0xff]),
    frame(Buffer.from([PacketType.STAT, 0, 0, 0, 1, 0, 0, 0, 0])), // no INIT first
  ]) {
    const e = engineHarness();
    e.input(bad);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(e.ended(), true);
  }
});

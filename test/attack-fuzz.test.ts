// Issue 6, codec fuzz: every request type with fields at and past their limits (string lengths,
// attribute counts, 64-bit values), random bytes, and truncations. decodeRequest never throws;
// valid packets decode to what was encoded. Then the same packets go to a live server, which
// answers each one or closes that client only, and keeps serving everyone.
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttrFlag, MAX_PACKET, MAX_PATH } from '../common/wire.js';
import { decodeRequest } from '../server/sftp/codec.js';
import { useServer } from './helpers/fixture.js';
import { Canaries, F, freshLogin, MB, Pkt, rawSftp, rss, T } from './helpers/attack.js';
import { sleep } from './helpers/run.js';

const ALL = AttrFlag.SIZE | AttrFlag.UIDGID | AttrFlag.PERMISSIONS | AttrFlag.ACMODTIME;

const lenAtLimit = fc.oneof(
  fc.constantFrom(0, 1, 4, 255, 256, MAX_PATH - 1, MAX_PATH, MAX_PATH + 1, 0x7fffffff, 0xffffffff),
  fc.nat(0xffffffff),
);
const u64AtLimit = fc.oneof(
  fc.constantFrom(
    0n,
    1n,
    2n ** 32n,
    2n ** 40n,
    2n ** 53n - 1n,
    2n ** 53n,
    2n ** 63n,
    2n ** 64n - 1n,
  ),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);

/** A string field: honest (its length matches) or lying (a length at a limit, any bytes). */
const strField = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => new Pkt().str(Buffer.from(b)).build()),
  fc.constantFrom(MAX_PATH, MAX_PATH + 1).map((n) => new Pkt().str(Buffer.alloc(n, 0x61)).build()),
  fc
    .tuple(lenAtLimit, fc.uint8Array({ maxLength: 64 }))
    .map(([n, b]) => Buffer.concat([new Pkt().u32(n).build(), Buffer.from(b)])),
);

const attrsField = fc
  .tuple(
    fc.constantFrom(
      0,
      AttrFlag.SIZE,
      AttrFlag.UIDGID,
      AttrFlag.PERMISSIONS,
      AttrFlag.ACMODTIME,
      ALL,
      AttrFlag.EXTENDED,
      (AttrFlag.EXTENDED | ALL) >>> 0,
      0xffffffff,
    ),
    u64AtLimit,
    fc.nat(0xffffffff),
    fc.constantFrom(0, 1, 1024, 1025, 0xffffffff),
    fc.array(strField, { maxLength: 3 }),
  )
  .map(([flags, size, n, count, exts]) => {
    const p = new Pkt().u32(flags);
    if (flags & AttrFlag.SIZE) p.u64(size);
    if (flags & AttrFlag.UIDGID) p.u32(n).u32(n);
    if (flags & AttrFlag.PERMISSIONS) p.u32(n);
    if (flags & AttrFlag.ACMODTIME) p.u32(n).u32(n);
    if (flags & AttrFlag.EXTENDED) {
      p.u32(count);
      for (const e of exts) p.raw(e);
    }
    return p.build();
  });

const fieldsOf: Record<number, fc.Arbitrary<Buffer>[]> = {
  [T.OPEN]: [strField, fc.nat(0xffffffff).map((n) => new Pkt().u32(n).build()), attrsField],
  [T.CLOSE]: [strField],
  [T.READ]: [
    strField,
    u64AtLimit.map((v) => new Pkt().u64(v).build()),
    lenAtLimit.map((n) => new Pkt().u32(n).build()),
  ],
  [T.WRITE]: [strField, u64AtLimit.map((v) => new Pkt().u64(v).build()), strField],
  [T.LSTAT]: [strField],
  [T.FSTAT]: [strField],
  [T.SETSTAT]: [strField, attrsField],
  [T.FSETSTAT]: [strField, attrsField],
  [T.OPENDIR]: [strField],
  [T.READDIR]: [strField],
  [T.REMOVE]: [strField],
  [T.MKDIR]: [strField, attrsField],
  [T.RMDIR]: [strField],
  [T.REALPATH]: [strField],
  [T.STAT]: [strField],
  [T.RENAME]: [strField, strField],
  [T.READLINK]: [strField],
  [T.SYMLINK]: [strField, strField],
  [T.EXTENDED]: [
    fc
      .constantFrom(
        'posix-rename@openssh.com',
        'statvfs@openssh.com',
        'fstatvfs@openssh.com',
        'fsync@openssh.com',
        'limits@openssh.com',
        'expand-path@openssh.com',
        'home-directory',
        'copy-data',
        'check-file-name',
        'check-file-handle',
        'no-such@example.com',
      )
      .map((n) => new Pkt().str(n).build()),
    strField,
    u64AtLimit.map((v) => new Pkt().u64(v).build()),
    strField,
    fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
  ],
};

/** A request body (type, id, fields), possibly truncated or with junk appended. */
const requestBody = fc
  .tuple(
    fc.oneof(fc.constantFrom(...Object.keys(fieldsOf).map(Number)), fc.nat(255)),
    fc.nat(0xffffffff),
    fc.nat(40),
    fc.oneof(fc.constant(-1), fc.nat(300)),
  )
  .chain(([type, id, junk, cut]) =>
    fc
      .tuple(...(fieldsOf[type] ?? [fc.uint8Array({ maxLength: 50 }).map((b) => Buffer.from(b))]))
      .map((fields) => {
        let body = Buffer.concat([
          Buffer.from([type]),
          new Pkt().u32(id).build(),
          ...fields,
          Buffer.alloc(junk % 3 === 0 ? junk : 0),
        ]);
        if (cut >= 0 && cut < body.length) body = body.subarray(0, cut);
        return body;
      }),
  );

test('codec fuzz: decodeRequest never throws, answers in shape', () => {
  fc.assert(
    fc.property(requestBody, (body) => {
      const d = decodeRequest(body);
      if (d.ok) {
        assert.equal(d.value.type, body[0]);
        assert.equal(d.value.id, body.readUInt32BE(1));
      } else if (body.length >= 5) {
        assert.equal(d.id, body.readUInt32BE(1));
        assert.equal(typeof d.reason, 'string');
      }
    }),
    { numRuns: 20_000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
      decodeRequest(Buffer.from(b));
    }),
    { numRuns: 20_000 },
  );
});

test('codec: honest packets decode to their fields', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: 'grapheme', maxLength: 200 }).filter((s) => !s.includes('\0')),
      fc.nat(0xffffffff),
      fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
      (path, id, off) => {
        const open = decodeRequest(
          Buffer.concat([
            Buffer.from([T.OPEN]),
            new Pkt()
              .u32(id)
              .str(path)
              .u32(F.READ | F.WRITE)
              .attrs({ size: off })
              .build(),
          ]),
        );
        assert.ok(open.ok);
        if (open.ok && open.value.type === T.OPEN) {
          assert.equal(open.value.path, path);
          assert.equal(open.value.attrs.size, Number(off));
        }
      },
    ),
    { numRuns: 5_000 },
  );
});

test('fuzzed packets against a live server', { timeout: 180_000 }, async (t) => {
  const srv = await useServer(t);
  const u = srv.addUser('fuzz', { quota: 8 * MB });
  const other = srv.addUser('other');
  const can = new Canaries(srv, t);
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 100000);
  t.diagnostic(`live fuzz seed ${seed} (FUZZ_SEED=${seed} repeats it)`);
  const bodies = fc.sample(requestBody, { numRuns: 3000, seed });
  let answered = 0;
  let closed = 0;
  let r = await rawSftp(srv, u);
  // some real handles for the handle-taking requests to hit
  await r.open('/f', F.READ | F.WRITE | F.CREAT);
  await r.path(T.OPENDIR, '/');
  for (let i = 0; i < bodies.length; i++) {
    const body = bodies[i]!;
    if (body.length < 5 || body.length > MAX_PACKET) continue;
    const id = body.readUInt32BE(1);
    const frame = Buffer.concat([new Pkt().u32(body.length).build(), body]);
    const waiter = r.req(T.REALPATH, new Pkt().str('/'), (id + 1) >>> 0);
    // the fuzzed packet first, then a REALPATH to show the session still answers in order
    r.ch.write(frame);
    const rep = await Promise.race([waiter, sleep(10_000).then(() => undefined)]);
    if (rep === undefined || rep.type === -1) {
      // a fuzzed INIT or a framing error may end this client's session: that is allowed
      closed++;
      r.drop();
      if (srv.proc.exitCode !== null || srv.proc.signalCode !== null)
        assert.fail(`server died on ${body.toString('hex')}:\n${srv.output().slice(-3000)}`);
      r = await rawSftp(srv, u);
      continue;
    }
    answered++;
    if (i % 500 === 0) await freshLogin(srv, other);
  }
  t.diagnostic(`live fuzz: ${answered} answered, ${closed} sessions closed by the server`);
  await r.end();
  await freshLogin(srv, other);
  await freshLogin(srv, u);
  can.check();
  assert.ok(rss(srv.proc.pid!) < 256 * MB);
  assert.ok(answered > 2000);
});

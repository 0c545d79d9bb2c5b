// The client's check-file-name reader (client/check-file.ts) on its own: the packet framer on chunked,
// empty and oversized input, and remoteRangeSha256 over a real SSH connection to a server that answers
// right, short, oversized, garbage or never (test/py/hostile_server.py): a digest, a clear
// CheckFileError, or Interrupted promptly when the caller aborts.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test, type TestContext } from 'node:test';
import { Client } from 'ssh2';
import { CheckFileError, PacketFramer, remoteRangeSha256 } from '../client/check-file.js';
import { Interrupted } from '../client/errors.js';
import { MAX_PACKET, PacketType, Writer } from '../common/wire.js';
import { fixture } from './helpers/fixture.js';
import { sha256 } from './helpers/files.js';
import { CONTENT, PASSWORD, startHostile } from './helpers/hostile.js';
import { needs } from './helpers/tools.js';

function pkt(type: number, body: Buffer): Buffer {
  return new Writer().u8(type).bytes(body).finish();
}

function collect(framer: PacketFramer, chunks: Buffer[]): [number, string][] {
  const got: [number, string][] = [];
  for (const c of chunks) framer.push(c, (t, b) => got.push([t, b.toString('hex')]));
  return got;
}

describe('PacketFramer', () => {
  const a = pkt(PacketType.STATUS, Buffer.from('first'));
  const b = pkt(PacketType.EXTENDED_REPLY, Buffer.alloc(70000, 7));
  const c = pkt(PacketType.VERSION, Buffer.alloc(0));
  const whole = Buffer.concat([a, b, c]);
  const expected = collect(new PacketFramer(), [whole]);

  test('the same packets whether they come in one chunk, byte by byte or in odd pieces', () => {
    assert.equal(expected.length, 3);
    assert.deepEqual(
      expected.map(([t]) => t),
      [PacketType.STATUS, PacketType.EXTENDED_REPLY, PacketType.VERSION],
    );
    const bytes = [...whole].map((x) => Buffer.from([x]));
    assert.deepEqual(collect(new PacketFramer(), bytes), expected);
    const odd: Buffer[] = [];
    for (let i = 0; i < whole.length; i += 4093) odd.push(whole.subarray(i, i + 4093));
    assert.deepEqual(collect(new PacketFramer(), odd), expected);
  });

  test('a declared length over MAX_PACKET or of zero is refused, and nothing after it is read', () => {
    const f = new PacketFramer();
    const big = Buffer.alloc(5);
    big.writeUInt32BE(MAX_PACKET + 1);
    assert.throws(() => collect(f, [big]), CheckFileError);
    assert.throws(
      () => collect(new PacketFramer(), [big]),
      /packet of 262145 bytes \(at most 262144 allowed\)/,
    );
    assert.deepEqual(collect(f, [a]), [], 'a broken stream yields nothing more');
    assert.throws(() => collect(new PacketFramer(), [Buffer.alloc(4)]), /packet of 0 bytes/);
    // exactly MAX_PACKET is allowed
    const max = Buffer.alloc(4 + MAX_PACKET);
    max.writeUInt32BE(MAX_PACKET);
    max[4] = PacketType.DATA;
    assert.equal(collect(new PacketFramer(), [max]).length, 1);
  });
});

describe('remoteRangeSha256 against a lying server', { skip: needs('paramiko') }, () => {
  const fx = fixture();
  let dir: string;
  before(() => (dir = fx.tempDir('jailsftp-checkfile-')));

  /** An SSH connection to the hostile server in `mode`; both end after the test. */
  async function connectTo(t: TestContext, mode: string): Promise<Client> {
    const tfx = fixture(t);
    const srv = await startHostile(tfx, mode, join(dir, 'key'));
    const c = new Client();
    tfx.defer(() => c.end());
    await new Promise<void>((resolve, reject) => {
      c.on('ready', resolve).on('error', reject);
      c.connect({ host: '127.0.0.1', port: srv.port, username: 'u', password: PASSWORD });
    });
    return c;
  }

  test('an honest server: the digest of the range, and of the whole file for length 0', async (t) => {
    const ssh = await connectTo(t, 'plain');
    assert.equal(
      await remoteRangeSha256(ssh, '/flat/ok.txt', 0, 100),
      sha256(CONTENT.subarray(0, 100)),
    );
    assert.equal(await remoteRangeSha256(ssh, '/flat/ok.txt', 0, 0), sha256(CONTENT));
    // a missing file is a status reply: the server cannot say
    assert.equal(await remoteRangeSha256(ssh, '/flat/missing', 0, 100), null);
  });

  const lies: [string, RegExp][] = [
    ['short', /^\/flat\/ok\.txt: malformed check-file reply \(packet too short\)$/],
    ['oversized', /^\/flat\/ok\.txt: the server sent a packet of 67108864 bytes/],
    ['garbage', /^\/flat\/ok\.txt: malformed check-file reply \(unexpected packet type 238\)$/],
    ['md5', /^\/flat\/ok\.txt: malformed check-file reply \(not a sha256 check-file reply\)$/],
  ];
  for (const [kind, message] of lies)
    test(`a ${kind} reply rejects with a CheckFileError; the connection keeps working`, async (t) => {
      const ssh = await connectTo(t, `${kind}:checkfile`);
      await assert.rejects(remoteRangeSha256(ssh, '/flat/ok.txt', 0, 100), (err) => {
        assert.ok(err instanceof CheckFileError);
        assert.match(err.message, message);
        return true;
      });
      // the SSH connection survived: another channel opens and answers
      const size = await new Promise<number>((resolve, reject) =>
        ssh.sftp((err, sftp) => {
          if (err) return reject(err);
          sftp.stat('/flat/ok.txt', (e, st) => (e ? reject(e) : resolve(st.size)));
        }),
      );
      assert.equal(size, CONTENT.length);
    });

  test('a server that never answers: abort rejects with Interrupted at once', async (t) => {
    const ssh = await connectTo(t, 'silent:checkfile');
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 300);
    await assert.rejects(
      remoteRangeSha256(ssh, '/flat/ok.txt', 0, 100, { signal: ac.signal }),
      Interrupted,
    );
    const waited = Date.now() - t0;
    assert.ok(waited < 2000, `took ${waited} ms`);
    // already aborted: no channel at all
    await assert.rejects(
      remoteRangeSha256(ssh, '/flat/ok.txt', 0, 100, { signal: ac.signal }),
      Interrupted,
    );
  });
});

// The client's check-file-name reader (client/check-file.ts) on its own: the packet framer on chunked,
// empty and oversized input, and remoteRangeSha256 over a real SSH connection to a server that answers
// right, short, oversized, garbage or never (test/py/hostile_server.py): a digest, a clear
// CheckFileError, or Interrupted promptly when the caller aborts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from 'ssh2';
import { CheckFileError, PacketFramer, remoteRangeSha256 } from '../client/check-file.js';
import { Interrupted } from '../client/errors.js';
import { MAX_PACKET, Writer } from '../common/wire.js';
import { sha256 } from './helpers/files.js';
import { CONTENT, PASSWORD, startHostile, type Hostile } from './helpers/hostile.js';
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
  const a = pkt(101, Buffer.from('first'));
  const b = pkt(201, Buffer.alloc(70000, 7));
  const c = pkt(2, Buffer.alloc(0));
  const whole = Buffer.concat([a, b, c]);
  const expected = collect(new PacketFramer(), [whole]);

  test('the same packets whether they come in one chunk, byte by byte or in odd pieces', () => {
    assert.equal(expected.length, 3);
    assert.deepEqual(
      expected.map(([t]) => t),
      [101, 201, 2],
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
    max[4] = 103;
    assert.equal(collect(new PacketFramer(), [max]).length, 1);
  });
});

describe('remoteRangeSha256 against a lying server', { skip: needs('paramiko') }, () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'jailsftp-checkfile-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function withSsh<T>(mode: string, fn: (ssh: Client) => Promise<T>): Promise<T> {
    const srv: Hostile = await startHostile(mode, join(dir, 'key'));
    const ssh = new Client();
    try {
      await new Promise<void>((resolve, reject) => {
        ssh.on('ready', resolve).on('error', reject);
        ssh.connect({ host: '127.0.0.1', port: srv.port, username: 'u', password: PASSWORD });
      });
      return await fn(ssh);
    } finally {
      ssh.end();
      await srv.stop();
    }
  }

  test('an honest server: the digest of the range, and of the whole file for length 0', async () => {
    await withSsh('plain', async (ssh) => {
      assert.equal(
        await remoteRangeSha256(ssh, '/flat/ok.txt', 0, 100),
        sha256(CONTENT.subarray(0, 100)),
      );
      assert.equal(await remoteRangeSha256(ssh, '/flat/ok.txt', 0, 0), sha256(CONTENT));
      // a missing file is a status reply: the server cannot say
      assert.equal(await remoteRangeSha256(ssh, '/flat/missing', 0, 100), null);
    });
  });

  const lies: [string, RegExp][] = [
    ['short', /^\/flat\/ok\.txt: malformed check-file reply \(packet too short\)$/],
    ['oversized', /^\/flat\/ok\.txt: the server sent a packet of 67108864 bytes/],
    ['garbage', /^\/flat\/ok\.txt: malformed check-file reply \(unexpected packet type 238\)$/],
    ['md5', /^\/flat\/ok\.txt: malformed check-file reply \(not a sha256 check-file reply\)$/],
  ];
  for (const [kind, message] of lies)
    test(`a ${kind} reply rejects with a CheckFileError; the connection keeps working`, async () => {
      await withSsh(`${kind}:checkfile`, async (ssh) => {
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
    });

  test('a server that never answers: abort rejects with Interrupted at once', async () => {
    await withSsh('silent:checkfile', async (ssh) => {
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
});

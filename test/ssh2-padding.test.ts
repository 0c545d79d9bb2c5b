// Our ssh2 patch (patches/ssh2+1.17.0.patch, applied by patch-package at install): outgoing
// packets take their random padding from a pool refilled from the CSPRNG 4 KiB at a time, instead
// of one randomFillSync() call per packet (several microseconds each: ~18 % of the server's CPU
// per small SFTP request). Checks that the CSPRNG is called rarely and that no padding byte is used
// twice. Written against ssh2's own cipher classes, so that it can go upstream with the patch.
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

interface Cipher {
  allocPacket(payloadLen: number): Buffer;
}
type NullCipherClass = new (seqno: number, onWrite: (b: Buffer) => void) => Cipher;

/** Loads ssh2's crypto module with randomFillSync counted (it takes the function at load). */
function loadCounted(): { NullCipher: NullCipherClass; calls: () => number } {
  let calls = 0;
  const real = crypto.randomFillSync;
  crypto.randomFillSync = ((...a: Parameters<typeof real>) => {
    calls++;
    return real(...a);
  }) as typeof real;
  try {
    const require = createRequire(import.meta.url);
    const mod = require('ssh2/lib/protocol/crypto.js') as { NullCipher: NullCipherClass };
    return { NullCipher: mod.NullCipher, calls: () => calls };
  } finally {
    crypto.randomFillSync = real;
  }
}

test('ssh2 pads packets from a pooled CSPRNG: few calls, no byte used twice', () => {
  const { NullCipher, calls } = loadCounted();
  const cipher = new NullCipher(0, () => undefined);
  const before = calls();
  const packets = 4000;
  const padding: Buffer[] = [];
  for (let i = 0; i < packets; i++) {
    const payloadLen = 1 + (i % 300);
    const p = cipher.allocPacket(payloadLen);
    const padLen = p[4]!;
    assert.ok(padLen >= 4 && 5 + payloadLen + padLen === p.length, 'RFC 4253 padding layout');
    padding.push(Buffer.from(p.subarray(5 + payloadLen)));
  }
  const used = calls() - before;
  const bytes = Buffer.concat(padding);
  // unpatched: one call per packet (4000); pooled: one per 4 KiB of padding
  assert.ok(
    used <= Math.ceil(bytes.length / 4096) + 1,
    `${used} CSPRNG calls for ${packets} packets`,
  );
  // a pool reused without a refill would repeat its bytes: every 8-byte window is new
  const seen = new Set<string>();
  for (let i = 0; i + 8 <= bytes.length; i += 8) {
    const w = bytes.toString('hex', i, i + 8);
    assert.ok(!seen.has(w), `padding bytes repeat at ${i}`);
    seen.add(w);
  }
});

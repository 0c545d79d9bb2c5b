// The token bucket behind per-user bandwidth on its own: the burst passes at once, then the rate
// holds; callers are served fairly by owner; a request larger than the burst still passes and the debt
// slows the next; a live rate change reaches waiting callers; cancel fails one owner's waits only.
import test from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { MAX_PACKET, TokenBucket } from '../server/account/token-bucket.js';

const KiB = 1024;
const MiB = 1024 * 1024;

/** Seconds until every promise settled. */
async function timed(ps: Array<Promise<void> | undefined>): Promise<number> {
  const t0 = performance.now();
  await Promise.all(ps);
  return (performance.now() - t0) / 1000;
}

test('unlimited (rate 0) lets everything pass at once, without a promise', () => {
  const b = new TokenBucket(0);
  for (let i = 0; i < 1000; i++) assert.equal(b.take(MiB), undefined);
  assert.equal(b.waiting, 0);
});

test('burst: a quarter second of the rate, at least one max packet (256 KiB)', () => {
  assert.equal(new TokenBucket(64 * KiB).burst, MAX_PACKET);
  assert.equal(new TokenBucket(8 * MiB).burst, 2 * MiB);
});

test('refill arithmetic on a fake clock: tokens come at the rate, up to the burst', async () => {
  let now = 0;
  const b = new TokenBucket(MiB, () => now); // burst 256 KiB
  assert.equal(b.take(256 * KiB), undefined, 'the full burst passes at once');
  const w = b.take(1);
  assert.ok(w instanceof Promise, 'an empty bucket makes the caller wait');
  now = 125; // 128 KiB later, but a caller waits already: no overtaking
  assert.ok(b.take(1) instanceof Promise);
  const c = new TokenBucket(MiB, () => now);
  c.take(256 * KiB);
  now = 250; // 128 KiB refilled
  assert.equal(c.take(128 * KiB), undefined);
  assert.ok(c.take(1) instanceof Promise);
  const d = new TokenBucket(MiB, () => now);
  now = 100_000; // a long pause fills no more than the burst
  assert.equal(d.take(256 * KiB), undefined);
  assert.ok(d.take(1) instanceof Promise);
  // the fake clock stands still: release the waiting callers so that no timer is left
  for (const x of [b, c, d]) x.setRate(0);
  await w;
});

test('after the burst the rate holds: 1 MiB at 1 MiB/s takes about 1 s', async () => {
  const b = new TokenBucket(MiB);
  assert.equal(b.take(256 * KiB), undefined);
  const s = await timed(Array.from({ length: 32 }, () => b.take(32 * KiB)));
  assert.ok(s > 0.9 && s < 1.4, `1 MiB after the burst took ${s.toFixed(2)} s`);
});

test('waiting callers are served fairly by owner, in arrival order within one', async () => {
  const b = new TokenBucket(4 * MiB); // burst 1 MiB
  b.take(MiB);
  const order: string[] = [];
  const ps = [];
  // owner a queues six requests, then b two: b does not wait behind all of a's
  for (let i = 0; i < 6; i++) ps.push(b.take(64 * KiB, 'a')!.then(() => order.push(`a${i}`)));
  for (let i = 0; i < 2; i++) ps.push(b.take(64 * KiB, 'b')!.then(() => order.push(`b${i}`)));
  await Promise.all(ps);
  assert.deepEqual(order, ['a0', 'b0', 'a1', 'b1', 'a2', 'a3', 'a4', 'a5']);
});

test('a request larger than the burst passes when full, and its debt slows the next', async () => {
  const b = new TokenBucket(MiB); // burst 256 KiB
  assert.equal(b.take(768 * KiB), undefined, 'a full bucket lets one big request pass');
  // 512 KiB of debt, then 128 KiB: about 0.625 s
  const s = await timed([b.take(128 * KiB)]);
  assert.ok(s > 0.55 && s < 0.9, `after the debt: ${s.toFixed(2)} s`);
});

test('a live rate change reaches the waiting callers', async () => {
  const slow = new TokenBucket(64 * KiB); // burst 256 KiB
  slow.take(256 * KiB);
  const queued = Array.from({ length: 32 }, () => slow.take(64 * KiB)); // 32 s at this rate
  assert.equal(slow.waiting, 32);
  setTimeout(() => slow.setRate(0), 100);
  const s = await timed(queued);
  assert.ok(s < 0.5, `unlimited released them in ${s.toFixed(2)} s`);
  assert.equal(slow.waiting, 0);

  const faster = new TokenBucket(64 * KiB);
  faster.take(256 * KiB);
  const more = Array.from({ length: 16 }, () => faster.take(64 * KiB)); // 1 MiB: 16 s at 64 KiB/s
  setTimeout(() => faster.setRate(4 * MiB), 100);
  const s2 = await timed(more);
  assert.ok(s2 < 0.7, `at 4 MiB/s the queued 1 MiB took ${s2.toFixed(2)} s`);

  const limited = new TokenBucket(0);
  limited.setRate(MiB);
  assert.equal(limited.take(256 * KiB), undefined, 'from unlimited the bucket starts full');
  assert.ok(limited.take(64 * KiB) instanceof Promise, 'then the new rate holds');
  limited.setRate(0);
});

test('cancel fails the waits of one owner; the others keep their turn', async () => {
  const b = new TokenBucket(2 * MiB); // burst 512 KiB
  b.take(512 * KiB);
  const gone = [b.take(128 * KiB, 'gone')!, b.take(128 * KiB, 'gone')!];
  const kept = b.take(128 * KiB, 'kept')!;
  b.cancel('gone', new Error('connection closed'));
  for (const p of gone) await assert.rejects(p, /connection closed/);
  assert.equal(b.waiting, 1);
  // the kept caller now waits only for its own 128 KiB (about 62 ms), not for the cancelled ones
  const s = await timed([kept]);
  assert.ok(s < 0.2, `kept caller waited ${s.toFixed(2)} s`);
});

test('invalid rates are refused', () => {
  assert.throws(() => new TokenBucket(-1), /invalid rate/);
  assert.throws(() => new TokenBucket(Number.NaN), /invalid rate/);
});

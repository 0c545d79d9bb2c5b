// Issue 10: check-file costs are bounded before the work starts. A flood of check-file requests with
// small blocks over a big file is refused at once (no digest computed), valid hash requests from many
// sessions queue per user, and another user is served meanwhile with the server's memory bounded.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from './helpers/server.js';
import { MB, Pkt, rawSftp, rss, rssSampler, T, type Raw, type Reply } from './helpers/attack.js';
import { sleep } from './helpers/run.js';

const FILE = 64 * MB;

/** STATs as bob until `done` resolves; returns the slowest answer in ms. */
async function probe(b: Raw, done: Promise<unknown>): Promise<{ worst: number; count: number }> {
  let finished = false;
  void done.finally(() => (finished = true));
  let worst = 0;
  let count = 0;
  while (!finished) {
    const t0 = performance.now();
    const rep = await b.path(T.STAT, '/');
    assert.equal(rep.type, T.ATTRS);
    worst = Math.max(worst, performance.now() - t0);
    count++;
    await sleep(20);
  }
  return { worst, count };
}

/** Resolves with the replies, or with null after ms (a request left unanswered). */
function within<V>(p: Promise<V>, ms: number): Promise<V | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((res) => (timer = setTimeout(() => res(null), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

test('check-file floods are bounded before any hashing', { timeout: 300_000 }, async (t) => {
  const srv = await startServer();
  const pid = srv.proc.pid!;
  const alice = srv.addUser('alice');
  const bob = srv.addUser('bob');
  t.after(async () => {
    await srv.kill();
    srv.cleanup();
  });
  mkdirSync(alice.home, { recursive: true });
  const fd = openSync(join(alice.home, 'big'), 'w');
  ftruncateSync(fd, FILE);
  closeSync(fd);
  const sessions = await Promise.all([1, 2, 3, 4].map(() => rawSftp(srv, alice)));
  const b = await rawSftp(srv, bob);

  await t.test('256-byte blocks over 64 MiB from 4 sessions: refused at once', async () => {
    const base = rss(pid);
    const sampler = rssSampler(pid);
    const t0 = performance.now();
    const all = Promise.all(
      sessions.flatMap((s) =>
        [0, 1].map(() =>
          s.ext('check-file-name', new Pkt().str('/big').str('sha256').u64(0).u64(0).u32(256)),
        ),
      ),
    );
    const answered = within(all, 20_000);
    const [replies, stat] = await Promise.all([answered, probe(b, answered)]);
    const seconds = (performance.now() - t0) / 1000;
    const peak = sampler.stop();
    const growth = (peak - base) / MB;
    t.diagnostic(
      `RSS before ${(base / MB).toFixed(0)} MB, peak ${(peak / MB).toFixed(0)} MB (+${growth.toFixed(0)} MB); ` +
        `${replies ? 'all 8 answered' : 'NOT all answered'} in ${seconds.toFixed(2)} s; slowest STAT of another user ${stat.worst.toFixed(0)} ms`,
    );
    assert.ok(replies, 'every request answered within 20 s');
    for (const r of replies as Reply[]) {
      assert.equal(r.type, T.STATUS);
      assert.equal(r.code, 4);
      assert.match(
        r.msg!,
        /^too many blocks for one reply: 262144 blocks of sha256 \(at most \d+\)/,
      );
    }
    assert.ok(seconds < 2, `answered in ${seconds} s`);
    assert.ok(growth < 48, `server grew by ${growth} MB`);
    assert.ok(stat.worst < 1000, `another user's STAT took ${stat.worst} ms`);
  });

  await t.test(
    'whole-file hashes from 4 sessions and by name: right digests, others served',
    async () => {
      const want = createHash('sha256').update(Buffer.alloc(FILE)).digest('hex');
      const base = rss(pid);
      const sampler = rssSampler(pid);
      const all = Promise.all(
        sessions.map((s) =>
          s.ext('check-file-name', new Pkt().str('/big').str('sha256').u64(0).u64(0).u32(0)),
        ),
      );
      const answered = within(all, 60_000);
      const [replies, stat] = await Promise.all([answered, probe(b, answered)]);
      const growth = (sampler.stop() - base) / MB;
      t.diagnostic(
        `4 whole-file hashes: +${growth.toFixed(0)} MB; slowest STAT ${stat.worst.toFixed(0)} ms`,
      );
      assert.ok(replies, 'every request answered within 60 s');
      for (const r of replies) {
        assert.equal(r.type, T.EXTENDED_REPLY, `${r.code} ${r.msg}`);
        assert.equal(r.body.subarray(r.body.length - 32).toString('hex'), want);
      }
      assert.ok(growth < 48, `server grew by ${growth} MB`);
      assert.ok(stat.worst < 1000, `another user's STAT took ${stat.worst} ms`);
    },
  );

  await Promise.all([...sessions, b].map((s) => s.end()));
});

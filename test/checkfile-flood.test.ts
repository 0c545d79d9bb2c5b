// Issue 10: check-file costs are bounded before the work starts. A flood of check-file requests with
// small blocks over a big file is refused at once (no digest computed), valid hash requests from many
// sessions queue per user, and another user is served meanwhile with the server's memory bounded.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { Status } from '../common/wire.js';
import { fixture } from './helpers/fixture.js';
import { MB, Pkt, rawSftp, rssSampler, T, type Reply } from './helpers/attack.js';
import { statWhile } from './helpers/attack-resources.js';
import { rss } from './helpers/procfs.js';

const FILE = 64 * MB;

/** Resolves with the replies, or with null after ms (a request left unanswered). */
function within<V>(p: Promise<V>, ms: number): Promise<V | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((res) => (timer = setTimeout(() => res(null), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

test('check-file floods are bounded before any hashing', { timeout: 300_000 }, async (t) => {
  const fx = fixture(t);
  const srv = await fx.server({ users: { alice: { home: true }, bob: {} } });
  const pid = srv.proc.pid!;
  const { alice, bob } = srv.users;
  const fd = openSync(join(alice.home, 'big'), 'w');
  ftruncateSync(fd, FILE);
  closeSync(fd);
  const sessions = await Promise.all([1, 2, 3, 4].map(() => rawSftp(srv, alice)));
  const b = await rawSftp(srv, bob);
  fx.defer(() => Promise.all([...sessions, b].map((s) => s.end())));

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
    const [replies, stat] = await Promise.all([answered, statWhile(b, '/', answered)]);
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
      assert.equal(r.code, Status.FAILURE);
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
      const [replies, stat] = await Promise.all([answered, statWhile(b, '/', answered)]);
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
});

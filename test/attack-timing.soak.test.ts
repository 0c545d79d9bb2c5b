// Issue 6, timing (200 tries each, with production argon2).
import test from 'node:test';
import { assertIndistinguishable, describe, measureTiming } from './helpers/attack-timing.js';

test(
  'unknown user, wrong password, wrong key: same answer, same time (200 tries each)',
  { timeout: 1_200_000 },
  async (t) => {
    const ds = await measureTiming(200);
    for (const d of ds) t.diagnostic(describe(d));
    assertIndistinguishable(ds);
  },
);

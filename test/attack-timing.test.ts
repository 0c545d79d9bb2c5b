// Issue 6, timing (short run; the 200-try run is in attack-timing.soak.test.ts).
import test from 'node:test';
import { assertIndistinguishable, describe, measureTiming } from './helpers/attack-timing.js';

test(
  'unknown user, wrong password, wrong key: same answer, same time (30 tries each)',
  { timeout: 300_000 },
  async (t) => {
    const ds = await measureTiming(30);
    for (const d of ds) t.diagnostic(describe(d));
    assertIndistinguishable(ds);
  },
);

// Issue 6, timing (short run; the 200-try run is in attack-timing.soak.test.ts).
import { timingTest } from './helpers/attack-timing.js';

timingTest(30, 300_000);

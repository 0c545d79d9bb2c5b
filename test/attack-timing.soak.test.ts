// Issue 6, timing (200 tries each, with production argon2).
import { timingTest } from './helpers/attack-timing.js';

timingTest(200, 1_200_000);

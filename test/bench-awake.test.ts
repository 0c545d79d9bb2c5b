// The bench's --keep-awake (bench/awake.ts): one busy loop per CPU at SCHED_IDLE, whose CPU the
// machine-busy figure leaves out, and which ends when stopped.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeepAwake } from '../bench/awake.js';
import { excludeFromMachineBusy, MachineSampler, ncpu } from '../bench/util.js';

/** pids of this process's children that run the keep-awake loop */
function loops(): number[] {
  try {
    const out = execFileSync('pgrep', ['-P', String(process.pid), '-f', `kill -0 ${process.pid}`], {
      encoding: 'utf8',
    });
    return out.split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

test(
  '--keep-awake: a SCHED_IDLE loop per CPU, left out of machine-busy, gone when stopped',
  { timeout: 30_000 },
  async () => {
    const k = await KeepAwake.start();
    try {
      const pids = loops();
      assert.equal(pids.length, ncpu(), `one loop per CPU: ${pids.join(' ')}`);
      for (const pid of pids)
        assert.match(
          execFileSync('chrt', ['-p', String(pid)], { encoding: 'utf8' }),
          /policy: SCHED_IDLE/,
        );
      const t0 = k.ticks();
      const counted = new MachineSampler(); // made before the exclusion: counts the loops
      excludeFromMachineBusy(() => k.ticks());
      const without = new MachineSampler();
      const began = Date.now();
      // SCHED_IDLE loops get only what the machine leaves idle (other tests run beside this one)
      while (k.ticks() - t0 < 30 && Date.now() - began < 20_000) await sleep(100);
      const spent = k.ticks() - t0;
      const secs = (Date.now() - began) / 1000;
      assert.ok(spent >= 30, `the loops ran: ${spent} ticks in ${secs} s`);
      const all = counted.stop();
      const rest = without.stop();
      // the loops' share of the window (ticks are 1/100 s, 100 % = one CPU): at least 1.5 %
      assert.ok(
        all - rest >= (0.8 * spent) / secs,
        `machine busy ${all.toFixed(1)}% with the loops, ${rest.toFixed(1)}% without; loops ${spent} ticks in ${secs} s`,
      );
    } finally {
      excludeFromMachineBusy(() => 0);
      k.stop();
    }
    await sleep(300);
    assert.deepEqual(loops(), [], 'no loop left');
  },
);

// --keep-awake: one busy loop per CPU at SCHED_IDLE, so that no vCPU halts while the bench runs.
//
// Why: on a VM without a guest halt-polling driver (this Firecracker VM: cpuidle driver "none"),
// a vCPU with nothing to run halts and the host gives its physical CPU to another tenant; the
// next wake-up (a packet on loopback, a thread finishing) then waits for the host to schedule
// the vCPU again, and the guest counts that wait as steal. Request/reply workloads wake up once
// per request: a cross-process loopback round trip measured 104–178 µs here with idle vCPUs and
// 55–60 µs with them kept busy (bench/README.md, "Keeping the vCPUs awake"). This is the VM's
// form of disabling deep C-states on a benchmark host. A SCHED_IDLE task only runs when nothing
// else can, so the bench's own processes (which preempt it at once) lose nothing; its CPU is
// left out of the machine-busy figures.
import { spawn, type ChildProcess } from 'node:child_process';
import { readStat } from '../test/helpers/procfs.js';
import { ncpu, onCleanup, sleep } from './util.js';

export class KeepAwake {
  private readonly procs: ChildProcess[] = [];

  /** Starts the loops; throws if chrt cannot set SCHED_IDLE. */
  static async start(): Promise<KeepAwake> {
    const k = new KeepAwake();
    onCleanup(() => k.stop());
    for (let i = 0; i < ncpu(); i++) {
      // chrt -i 0: SCHED_IDLE, whatever policy the bench itself runs at (--rt); the loop ends
      // with the bench even when the bench is killed without its clean-up (SIGKILL)
      const loop = `while kill -0 ${process.pid} 2>/dev/null; do :; done`;
      const p = spawn('chrt', ['-i', '0', 'sh', '-c', loop], { stdio: 'ignore' });
      k.procs.push(p);
      await new Promise<void>((resolve, reject) => {
        p.once('spawn', () => resolve());
        p.once('error', reject);
      });
    }
    await sleep(200);
    for (const p of k.procs)
      if (p.exitCode !== null) throw new Error(`--keep-awake: chrt -i failed (exit ${p.exitCode})`);
    return k;
  }

  /** CPU ticks (user+sys, 1/100 s) the loops have used so far (an ended loop counts 0). */
  ticks(): number {
    return this.procs.reduce((t, p) => t + (readStat(p.pid!)?.cpuTicks ?? 0), 0);
  }

  stop(): void {
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGKILL');
  }
}

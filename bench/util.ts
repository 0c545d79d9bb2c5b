// Small helpers for the benchmark: clean-up steps and child processes that are always cleaned up,
// sampling of a server's process tree (CPU seconds, resident memory), medians and formatting. The
// process tools and /proc readings themselves are shared with the tests (test/helpers/proc.ts, procfs.ts).
import { type ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  onSpawn,
  run as runProc,
  sleepSync,
  spawnChild,
  tempDir,
  terminate,
  type Run,
  type RunOptions,
} from '../test/helpers/proc.js';
import { cpus, hostname, release, totalmem } from 'node:os';
import { memStatus, processTree, readStat, resetPeak } from '../test/helpers/procfs.js';

// ---------------------------------------------------------------- cleanup registry

type CleanupFn = () => void;
const cleanups: CleanupFn[] = [];
const children = new Set<ChildProcess>();
let cleaned = false;

// every child the bench starts (directly or through the shared tools) is killed at clean-up
onSpawn((c) => {
  children.add(c);
  c.on('exit', () => children.delete(c));
  c.on('error', () => children.delete(c));
});

/** Registers a synchronous clean-up step; steps run last-registered first. */
export function onCleanup(fn: CleanupFn): void {
  cleanups.push(fn);
}

/** Removes a directory (recursively) at clean-up. */
export function cleanupDir(dir: string): void {
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
}

export function runCleanups(): void {
  if (cleaned) return;
  cleaned = true;
  const pids = [...children].filter((c) => c.exitCode === null && c.pid).map((c) => c.pid!);
  if (pids.length) terminate(pids, 2000);
  for (const fn of cleanups.reverse()) {
    try {
      fn();
    } catch (e) {
      process.stderr.write(`bench: cleanup step failed: ${(e as Error).message}\n`);
    }
  }
}

/** Installs exit/signal handlers that run the clean-up steps once. */
export function installCleanupHandlers(): void {
  process.on('exit', runCleanups);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, cleaning up\n`);
      runCleanups();
      process.exit(130);
    });
  }
}

/** spawn() whose process is killed at clean-up if still running. */
export const spawnTracked = spawnChild;

/**
 * Runs a command to completion; stdin text optional; no time limit unless timeoutMs. Never rejects
 * (status -1 = could not start).
 */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<Run> {
  return runProc(cmd, args, { timeoutMs: 0, maxOutput: 4_000_000, ...opts }).catch((e: Error) => ({
    status: -1,
    signal: null,
    stdout: '',
    stderr: e.message,
  }));
}

export function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

// ---------------------------------------------------------------- /proc sampling

const HZ = 100; // USER_HZ; Linux reports utime/stime in 1/100 s on every common configuration

export interface TreeUsage {
  /** user+system CPU seconds of the tree during the window */
  cpuSeconds: number;
  /** highest sampled sum of RSS over the tree (and the root's VmHWM when it could be reset) */
  peakRss: number;
}

/**
 * Samples a process tree every `intervalMs` until stop(): CPU seconds used inside the window by the
 * root and every descendant (new processes count from zero; one that exits loses at most its last
 * interval) and the peak resident memory of the tree.
 */
export class TreeSampler {
  private readonly seen = new Map<string, { base: number; last: number }>();
  private peak = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly hwmReset: boolean;
  private first = true;

  private readonly cpu0: number | undefined;

  constructor(
    private readonly root: number,
    intervalMs = 50,
    private readonly account?: CpuAccount,
  ) {
    this.cpu0 = account?.seconds();
    this.hwmReset = resetPeak(root);
    this.sample();
    this.first = false;
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    let rss = 0;
    for (const p of processTree(this.root)) {
      const st = readStat(p);
      if (!st) continue;
      rss += st.rssBytes;
      const key = `${p}:${st.start}`;
      const e = this.seen.get(key);
      if (e) e.last = st.cpuTicks;
      else this.seen.set(key, { base: this.first ? st.cpuTicks : 0, last: st.cpuTicks });
    }
    if (rss > this.peak) this.peak = rss;
  }

  stop(): TreeUsage {
    clearInterval(this.timer);
    this.sample();
    let ticks = 0;
    for (const e of this.seen.values()) ticks += e.last - e.base;
    const cpuSeconds =
      this.account && this.cpu0 !== undefined ? this.account.seconds() - this.cpu0 : ticks / HZ;
    let peak = this.peak;
    // a single process (our server): its own high-water mark also catches spikes between samples
    if (this.hwmReset && processTree(this.root).length === 1)
      peak = Math.max(peak, memStatus(this.root).hwm);
    return { cpuSeconds, peakRss: peak };
  }
}

let excludedTicks: () => number = () => 0;

/** Busy ticks that MachineSampler leaves out (the --keep-awake loops). */
export function excludeFromMachineBusy(ticks: () => number): void {
  excludedTicks = ticks;
}

/** Whole-machine busy CPU % (100 = one core) over a window, from /proc/stat. */
export class MachineSampler {
  private readonly a = machineTicks();
  /** what to leave out, as registered when the window began */
  private readonly excluded = excludedTicks;
  private readonly excludedAtStart = this.excluded();
  stop(): number {
    const b = machineTicks();
    const total = b.total - this.a.total;
    const busy = b.busy - this.a.busy - (this.excluded() - this.excludedAtStart);
    return total > 0 ? (Math.max(0, busy) / total) * 100 * ncpu() : 0;
  }
}

function machineTicks(): { busy: number; total: number } {
  const v = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((x, y) => x + y, 0);
  return { busy: total - v[3]! - v[4]!, total };
}

/**
 * CPU seconds (user+sys) of this process's children that have ended and been waited for
 * (/proc/self/stat cutime+cstime): the delta over a run is the CPU of the clients it ran.
 */
export function endedChildrenCpuSeconds(): number {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const v = f.slice(f.lastIndexOf(')') + 2).split(' ');
  // after the name: state(3) ... cutime(16) cstime(17), so indexes 13 and 14 here
  return (Number(v[13]) + Number(v[14])) / HZ;
}

export function ncpu(): number {
  return readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('processor')).length;
}

// ---------------------------------------------------------------- numbers

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// Deleting many files slows down the creates that follow. On ext4 without a journal (this VM's
// root file system), allocating an inode skips every inode of its group deleted in the last 60 s,
// or 360 s while that inode table block is dirty, as the creates themselves make it
// (`recently_deleted()` in fs/ext4/ialloc.c, RECENTCY_MIN + RECENTCY_DIRTY, kernel 6.x), looking
// up the table block for each: every one of 2000 creates scans past the thousands deleted just
// before. That cost either server 2-10x its CPU in a small-file run (`perf`: `recently_deleted`
// and `find_get_block_common` the top kernel symbols), and which server met it depended on the
// order of the runs. So the bench deletes nothing of the small-file runs until it ends (they are
// moved away, `retireTrees`), and a workload that creates many files waits until 361 s after the
// bench started or last removed a tree. What else on the machine deletes files, the bench cannot
// see: compare small-file rows only from a quiet machine.

/** ext4's window for a dirty table block (60 + 300 s), and a second more */
export const SETTLE_MS = 361_000;
let lastRemoval = Date.now(); // what ran just before the bench may have deleted files too
let settleMs = 0;
let graveyard: string | undefined;
let retired = 0;

/** How long after a removal `settleRemovals()` waits: SETTLE_MS for timed runs; 0 (the default)
 * for `--quick` and the tests, which only check that the workloads work. */
export function settleRemovalsFor(ms: number): void {
  settleMs = ms;
}

/** Removes `paths` (trees of many files): the next `settleRemovals()` waits for them. */
export function removeTrees(paths: string[]): void {
  for (const p of paths) rmSync(p, { recursive: true, force: true });
  lastRemoval = Date.now();
}

/**
 * Takes `paths` out of the way without deleting anything yet: moved (renamed: no inode is freed)
 * into a directory removed when the bench ends, so a later workload neither waits nor meets them
 * (our server's first login scans the home for the quota). A tree on another file system is
 * removed instead, and so is everything when nothing waits (`--quick`, the tests).
 */
export function retireTrees(paths: string[]): void {
  if (settleMs <= 0) return removeTrees(paths);
  if (!graveyard) {
    graveyard = tempDir('jailsftp-bench-removed-');
    cleanupDir(graveyard);
  }
  for (const p of paths) {
    if (!existsSync(p)) continue;
    try {
      renameSync(p, join(graveyard, `${retired++}`));
    } catch {
      removeTrees([p]);
    }
  }
}

/** Before a timed run that creates many files: wait until `settleMs` after the last removal,
 * then sync. */
export async function settleRemovals(): Promise<void> {
  if (settleMs <= 0) return;
  const wait = lastRemoval + settleMs - Date.now();
  if (wait > 0) {
    log(`waiting ${(wait / 1000).toFixed(0)} s: files removed just before slow down creates`);
    await sleep(wait);
  }
  spawnSync('sync');
}

export function log(msg: string): void {
  const t = new Date().toISOString().slice(11, 19);
  process.stderr.write(`[${t}] ${msg}\n`);
}

// ---------------------------------------------------------------- exact CPU accounting

/**
 * A CPU-accounting control group holding one server and, by inheritance, every process it forks:
 * its counter includes processes that already exited (sshd's short-lived session processes), which
 * /proc sampling misses. cgroup v1 cpuacct, or cgroup v2 (cpu.stat). Needs root; when it cannot be
 * made, create() returns undefined and the caller falls back to sampling /proc.
 */
let accounts = 0;

export class CpuAccount {
  private constructor(
    private readonly dir: string,
    private readonly v2: boolean,
  ) {}

  static create(name: string): CpuAccount | undefined {
    const candidates: { base: string; v2: boolean }[] = [
      { base: '/sys/fs/cgroup/cpuacct', v2: false },
      { base: '/sys/fs/cgroup/cpu,cpuacct', v2: false },
      { base: '/sys/fs/cgroup', v2: true },
      { base: '/sys/fs/cgroup/unified', v2: true },
    ];
    for (const c of candidates) {
      const probe = c.v2 ? `${c.base}/cgroup.controllers` : `${c.base}/cpuacct.usage`;
      if (!existsSync(probe)) continue;
      const dir = `${c.base}/${name}-${++accounts}`;
      try {
        mkdirSync(dir);
      } catch {
        continue;
      }
      onCleanup(() => {
        for (let i = 0; i < 40; i++) {
          try {
            rmdirSync(dir);
            return;
          } catch {
            sleepSync(50);
          }
        }
      });
      return new CpuAccount(dir, c.v2);
    }
    return undefined;
  }

  /** Moves a process (and its future children) into the group; false if refused. */
  add(pid: number): boolean {
    try {
      writeFileSync(`${this.dir}/cgroup.procs`, String(pid));
      return true;
    } catch {
      return false;
    }
  }

  /** CPU seconds used by the group since it was made. */
  seconds(): number {
    if (this.v2) {
      const m = /^usage_usec (\d+)/m.exec(readFileSync(`${this.dir}/cpu.stat`, 'utf8'));
      return Number(m?.[1] ?? 0) / 1e6;
    }
    return Number(readFileSync(`${this.dir}/cpuacct.usage`, 'utf8').trim()) / 1e9;
  }
}

/** The machine a result was measured on (every results file records it). */
export interface HostInfo {
  name: string;
  cpus: number;
  cpuModel: string;
  memGiB: number;
  kernel: string;
}

export function hostInfo(): HostInfo {
  return {
    name: hostname(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '?',
    memGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
  };
}

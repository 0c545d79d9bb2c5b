// Small helpers for the benchmark: child processes that are always cleaned up, /proc sampling of a
// server's process tree (CPU seconds, resident memory), medians and formatting.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';

// ---------------------------------------------------------------- cleanup registry

type CleanupFn = () => void;
const cleanups: CleanupFn[] = [];
const children = new Set<ChildProcess>();
let cleaned = false;

/** Registers a synchronous clean-up step; steps run last-registered first. */
export function onCleanup(fn: CleanupFn): void {
  cleanups.push(fn);
}

/** Removes a directory (recursively) at clean-up. */
export function cleanupDir(dir: string): void {
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return existsSync(`/proc/${pid}`) && procState(pid) !== 'Z';
  } catch {
    return false;
  }
}

function procState(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Sends SIGTERM to the given pids, waits up to `ms`, then SIGKILLs what is left. */
export function terminate(pids: number[], ms = 3000): void {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  const end = Date.now() + ms;
  while (pids.some(alive) && Date.now() < end) sleepSync(50);
  for (const p of pids.filter(alive)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
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
export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const c = spawn(cmd, args, opts);
  children.add(c);
  c.on('exit', () => children.delete(c));
  c.on('error', () => children.delete(c));
  return c;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; stdin text optional. Never rejects (code -1 = could not start). */
export function run(
  cmd: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((res) => {
    const c = spawnTracked(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    c.stdout!.on('data', (d: Buffer) => {
      if (stdout.length < 4_000_000) stdout += d.toString();
    });
    c.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 100_000) stderr += d.toString();
    });
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          stderr += `\n[killed after ${opts.timeoutMs} ms]`;
          c.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    c.on('error', (e) => {
      if (timer) clearTimeout(timer);
      res({ code: -1, stdout, stderr: stderr + e.message });
    });
    c.on('close', (code) => {
      if (timer) clearTimeout(timer);
      res({ code, stdout, stderr });
    });
    c.stdin!.on('error', () => undefined);
    c.stdin!.end(opts.input ?? '');
  });
}

export function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

// ---------------------------------------------------------------- /proc sampling

const PAGE = 4096;
const HZ = 100; // USER_HZ; Linux reports utime/stime in 1/100 s on every common configuration

interface StatLine {
  ppid: number;
  cpuTicks: number;
  start: number;
  rssBytes: number;
}

function readStat(pid: number): StatLine | undefined {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // f[0] = field 3 (state): ppid 4, utime 14, stime 15, starttime 22, rss 24
  return {
    ppid: Number(f[1]),
    cpuTicks: Number(f[11]) + Number(f[12]),
    start: Number(f[19]),
    rssBytes: Number(f[21]) * PAGE,
  };
}

function childPids(pid: number): number[] {
  const out: number[] = [];
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    try {
      for (const x of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' '))
        if (x.trim()) out.push(Number(x));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The pid and all its descendants. */
export function processTree(root: number): number[] {
  const seen: number[] = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    if (seen.includes(p)) continue;
    seen.push(p);
    stack.push(...childPids(p));
  }
  return seen.filter((p) => existsSync(`/proc/${p}`));
}

/** Sum of resident memory of a pid set (bytes). */
export function rssOf(pids: number[]): number {
  let sum = 0;
  for (const p of pids) sum += readStat(p)?.rssBytes ?? 0;
  return sum;
}

/** VmHWM / VmRSS of one process, bytes. */
export function memStatus(pid: number): { rss: number; hwm: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
    return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

/** Resets a process's VmHWM to its current RSS (root, Linux >= 4.0); false if not possible. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

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

/** Whole-machine busy CPU % (100 = one core) over a window, from /proc/stat. */
export class MachineSampler {
  private readonly a = machineTicks();
  stop(): number {
    const b = machineTicks();
    const total = b.total - this.a.total;
    return total > 0 ? ((b.busy - this.a.busy) / total) * 100 * ncpu() : 0;
  }
}

function machineTicks(): { busy: number; total: number } {
  const v = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((x, y) => x + y, 0);
  return { busy: total - v[3]! - v[4]!, total };
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

/** Sum of proportional set size (shared pages divided among their users), bytes. */
export function pssOf(pids: number[]): number {
  let sum = 0;
  for (const p of pids) {
    try {
      const m = /^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'));
      sum += Number(m?.[1] ?? 0) * 1024;
    } catch {
      /* gone */
    }
  }
  return sum;
}

// How cost grows with load (issue 14, "How cost grows"): the curves a capacity planner needs, on our
// server and, where it is cheap, on OpenSSH's sshd with the same clients:
//   throughput  aggregate MiB/s and Jain's fairness index of N concurrent OpenSSH `sftp` uploads
//   idle        server memory (RSS, PSS) with N idle authenticated SFTP sessions (bench/agent.ts idle)
//   stat        latency of one session's STATs, one at a time, while B other sessions upload
//   smallfiles  4 KiB uploads/s and STATs/s (bench/agent-ops.ts) as one directory of the home grows
// Each point runs once per server, the servers' order alternating point by point. Results:
// bench/results/curves.json and curves.svg (bench/curves-report.ts). See bench/README.md.
import { type ChildProcess } from 'node:child_process';
import {
  chownSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { PutResult, StatLoopResult, StatResult } from './agent-ops.js';
import { curvesTable, writeCurves, type CurvesReport } from './curves-report.js';
import { exited, startAgent, waitLine } from './specials.js';
import type { Target } from './target.js';
import {
  hostInfo,
  log,
  MachineSampler,
  removeTrees,
  retireTrees,
  settleRemovals,
  sleep,
  spawnTracked,
  TreeSampler,
} from './util.js';
import { sftp, sftpArgs } from './workloads.js';
import { memStatus, processTree, pssOf, rssOf } from '../test/helpers/procfs.js';

export const CURVE_NAMES = [
  'curves_throughput',
  'curves_idle',
  'curves_stat',
  'curves_smallfiles',
] as const;
export type CurveName = (typeof CURVE_NAMES)[number];

export interface CurveSizes {
  /** concurrent uploading sessions */
  sessions: number[];
  /** seconds of the throughput window (after every session has started) */
  windowSecs: number;
  /** idle sessions */
  idle: number[];
  /** other sessions uploading while one session STATs */
  statBackground: number[];
  statSecs: number;
  /** files in the one directory of the home */
  homeFiles: number[];
  /** uploads and STATs per point (after an untimed tenth of each), and how many in flight */
  smallPuts: number;
  smallStats: number;
  smallParallel: number;
}

export const FULL_CURVES: CurveSizes = {
  sessions: [1, 8, 64, 256],
  windowSecs: 10,
  idle: [1, 100, 1000],
  statBackground: [0, 8, 64],
  statSecs: 20,
  homeFiles: [1000, 10000, 50000, 100000],
  smallPuts: 10000,
  smallStats: 30000,
  smallParallel: 16,
};

export const QUICK_CURVES: CurveSizes = {
  sessions: [1, 4],
  windowSecs: 2,
  idle: [1, 20],
  statBackground: [0, 4],
  statSecs: 2,
  homeFiles: [200, 2000],
  smallPuts: 500,
  smallStats: 2000,
  smallParallel: 16,
};

type ServerName = Target['name'];

export interface ThroughputPoint {
  server: ServerName;
  sessions: number;
  /** MiB/s over the window, all sessions together */
  aggregateMiBs: number;
  /** Jain's index of the sessions' throughputs: 1 = all equal, 1/N = one session gets everything */
  jain: number;
  minMiBs: number;
  maxMiBs: number;
  /** seconds until every session had written its first bytes */
  startSecs: number;
  serverCpuPct: number;
  machinePct: number;
  serverRssMiB: number;
  /**
   * server RSS at the window's start and end: the stored bytes are read from the disk, so a
   * backlog of accepted but unwritten data that shrank in the window would show here
   */
  rssStartMiB: number;
  rssEndMiB: number;
  /** ours: where its one main thread was (see MainThread) */
  mainThread?: ThreadStates;
  errors: string[];
}

export interface IdlePoint {
  server: ServerName;
  sessions: number;
  /** server RSS / PSS with the sessions open (OpenSSH: listener + all session processes) */
  rssMiB: number;
  pssMiB: number;
  /** the same before the sessions (after one warm-up login) */
  baseRssMiB: number;
  basePssMiB: number;
  perSessionRssKiB: number;
  perSessionPssKiB: number;
  processes: number;
  /** seconds to open them (one ssh2 client process, 16 at a time) */
  setupSecs: number;
  /** server CPU while they idle, % of one core */
  idleCpuPct: number;
}

export interface StatPoint {
  server: ServerName;
  /** sessions uploading meanwhile */
  background: number;
  count: number;
  errors: number;
  /** mean: under load the distribution has two humps and the median jumps between them */
  meanMs?: number;
  medianMs: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** the background uploads' MiB/s during the STATs */
  backgroundMiBs: number;
  serverCpuPct: number;
  machinePct: number;
  mainThread?: ThreadStates;
}

export interface SmallFilesPoint {
  server: ServerName;
  /** files in the directory before the point's uploads (the point adds 1.1 × smallPuts more) */
  files: number;
  /** first session's connect + authenticate + SFTP start, ms (ours scans the home for the quota) */
  loginMs: number;
  loginCpuMs: number;
  putFilesPerSec: number;
  /** server CPU per uploaded file (OPEN, WRITE, CLOSE), µs */
  putCpuUs: number;
  statsPerSec: number;
  statCpuUs: number;
  errors: number;
}

export interface CurvesResult {
  sizes: CurveSizes;
  throughput: ThroughputPoint[];
  idle: IdlePoint[];
  stat: StatPoint[];
  smallFiles: SmallFilesPoint[];
  failures: string[];
}

export interface CurvesEnv {
  /** ours first, then the reference if there is one */
  targets: Target[];
  /** runs fn on a fresh server of the same kind (ours: a new process), or on t itself */
  fresh<R>(t: Target, fn: (f: Target) => Promise<R>): Promise<R>;
  /** local scratch directory */
  work: string;
  /** remote scratch directory, relative to the start directory (exists, owned by the user) */
  rdir: string;
}

const MiB = 1048576;

/** Shares (%) of samples of a thread in each scheduler state. */
export interface ThreadStates {
  /** running or runnable (waiting for a CPU) */
  running: number;
  /** uninterruptible sleep: a system call waiting for the disk or page-cache write-back */
  disk: number;
  /** sleeping: the event loop idle, waiting for sockets */
  idle: number;
  samples: number;
}

/**
 * Samples the state of our server's main thread (/proc/PID/stat) every few ms: the event loop is
 * one thread, so a synchronous system call that blocks it (D) stalls every session.
 */
class MainThread {
  private readonly n = { R: 0, D: 0, S: 0 };
  private readonly timer: NodeJS.Timeout;
  constructor(pid: number) {
    this.timer = setInterval(() => {
      const st = readStatState(pid);
      if (st === 'R' || st === 'D') this.n[st]++;
      else if (st) this.n.S++;
    }, 5);
  }
  stop(): ThreadStates {
    clearInterval(this.timer);
    const total = this.n.R + this.n.D + this.n.S || 1;
    return {
      running: (this.n.R / total) * 100,
      disk: (this.n.D / total) * 100,
      idle: (this.n.S / total) * 100,
      samples: total,
    };
  }
}

function readStatState(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** Jain's fairness index (Σx)² / (n Σx²). */
export function jain(xs: number[]): number {
  const s = xs.reduce((a, b) => a + b, 0);
  const q = xs.reduce((a, b) => a + b * b, 0);
  return q > 0 ? (s * s) / (xs.length * q) : 0;
}

function local(t: Target, rel: string): string {
  return join(t.startDir, rel);
}

function mkdirOwned(t: Target, rel: string): string {
  const p = local(t, rel);
  mkdirSync(p, { recursive: true });
  chownSync(p, t.uid, t.gid);
  return p;
}

function serverRss(t: Target): number {
  return t.name === 'ours' ? memStatus(t.pid).rss : rssOf(processTree(t.pid));
}

function serverPss(t: Target): number {
  return pssOf(t.name === 'ours' ? [t.pid] : processTree(t.pid));
}

/** The servers in the order for point i: alternating, so that neither always goes first. */
function order(targets: Target[], i: number): Target[] {
  return i % 2 === 0 ? targets : [...targets].reverse();
}

// ---------------------------------------------------------------- concurrent sftp uploads

/**
 * n OpenSSH `sftp` clients, each putting the (sparse, endless for our purposes) source file into
 * its own remote file until stopped. What each has stored is read from the server's disk.
 */
class Uploads {
  private readonly procs: ChildProcess[] = [];
  readonly files: string[] = [];
  readonly errors: string[] = [];
  private stopping = false;

  constructor(t: Target, n: number, source: string, rel: string) {
    const dir = mkdirOwned(t, rel);
    for (let i = 0; i < n; i++) {
      this.files.push(join(dir, `s${i}.bin`));
      const p = spawnTracked('sftp', sftpArgs(t), { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      p.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-500)));
      p.on('exit', (code) => {
        if (!this.stopping) this.errors.push(`sftp ${i} exited (${code}): ${err.trim()}`);
      });
      p.stdin!.end(`put ${source} ${rel}/s${i}.bin\n`);
      this.procs.push(p);
    }
  }

  sizes(): number[] {
    return this.files.map((f) => {
      try {
        return statSync(f).size;
      } catch {
        return 0;
      }
    });
  }

  /** Waits until every session has stored some bytes; seconds it took. */
  async started(timeoutMs: number): Promise<number> {
    const t0 = performance.now();
    while (this.sizes().some((s) => s === 0)) {
      if (this.errors.length) throw new Error(this.errors[0]);
      if (performance.now() - t0 > timeoutMs)
        throw new Error(
          `only ${this.sizes().filter((s) => s > 0).length}/${this.files.length} uploads started`,
        );
      await sleep(100);
    }
    return (performance.now() - t0) / 1000;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGTERM');
    const kill = setTimeout(() => {
      for (const p of this.procs) if (p.exitCode === null) p.kill('SIGKILL');
    }, 5000);
    await Promise.all(this.procs.map((p) => exited(p)));
    clearTimeout(kill);
    for (const f of this.files) rmSync(f, { force: true });
  }
}

/** Server CPU seconds so far (cgroup), or undefined without accounting. */
function cpuSecs(t: Target): number | undefined {
  return t.cpu?.seconds();
}

async function throughputPoint(
  t: Target,
  n: number,
  s: CurveSizes,
  source: string,
  rel: string,
): Promise<ThroughputPoint> {
  const up = new Uploads(t, n, source, rel);
  try {
    const startSecs = await up.started(60000 + n * 500);
    await sleep(1000); // past the start: sshd grows its buffers in the first second
    const rss0 = serverRss(t);
    const s0 = up.sizes();
    // /proc sampling of hundreds of sshd processes costs; once a second is enough for RSS
    const sampler = new TreeSampler(t.pid, 1000, t.cpu);
    const machine = new MachineSampler();
    const main = t.name === 'ours' ? new MainThread(t.pid) : undefined;
    const t0 = performance.now();
    await sleep(s.windowSecs * 1000);
    const mainThread = main?.stop();
    const s1 = up.sizes();
    const secs = (performance.now() - t0) / 1000;
    const rss1 = serverRss(t);
    const usage = sampler.stop();
    const machinePct = machine.stop();
    if (up.errors.length) throw new Error(up.errors[0]);
    const rates = s1.map((b, i) => (b - s0[i]!) / MiB / secs);
    return {
      server: t.name,
      sessions: n,
      aggregateMiBs: rates.reduce((a, b) => a + b, 0),
      jain: jain(rates),
      minMiBs: Math.min(...rates),
      maxMiBs: Math.max(...rates),
      startSecs,
      serverCpuPct: (usage.cpuSeconds / secs) * 100,
      machinePct,
      serverRssMiB: usage.peakRss / MiB,
      rssStartMiB: rss0 / MiB,
      rssEndMiB: rss1 / MiB,
      ...(mainThread ? { mainThread } : {}),
      errors: [],
    };
  } finally {
    await up.stop();
    await sleep(1500); // let the server close the sessions
  }
}

// ---------------------------------------------------------------- idle sessions

async function idlePoint(t: Target, n: number, holdSecs: number): Promise<IdlePoint> {
  await sftp(t, 'pwd\n'); // warm-up: the first login loads code that later ones share
  await sleep(500);
  const baseRss = serverRss(t);
  const basePss = serverPss(t);
  const t0 = performance.now();
  const a = startAgent('idle', {
    host: t.host,
    port: t.port,
    user: t.user,
    keyFile: t.keyFile,
    count: n,
  });
  try {
    await waitLine(a, /READY \d+/, 120000 + n * 1000);
    const setupSecs = (performance.now() - t0) / 1000;
    await sleep(2000);
    const rss = serverRss(t);
    const pss = serverPss(t);
    const processes = processTree(t.pid).length;
    const c0 = cpuSecs(t);
    await sleep(holdSecs * 1000);
    const c1 = cpuSecs(t);
    return {
      server: t.name,
      sessions: n,
      rssMiB: rss / MiB,
      pssMiB: pss / MiB,
      baseRssMiB: baseRss / MiB,
      basePssMiB: basePss / MiB,
      perSessionRssKiB: (rss - baseRss) / n / 1024,
      perSessionPssKiB: (pss - basePss) / n / 1024,
      processes,
      setupSecs,
      idleCpuPct: c0 !== undefined && c1 !== undefined ? ((c1 - c0) / holdSecs) * 100 : NaN,
    };
  } finally {
    a.stdin!.end();
    a.kill('SIGTERM');
    await exited(a);
    await sleep(1500);
  }
}

// ---------------------------------------------------------------- the ops agent

/** One bench/agent.js `ops` session: JSON commands on stdin, one JSON line back for each. */
class OpsAgent {
  private readonly proc: ChildProcess;
  private readonly lines: string[] = [];
  private wake: (() => void) | undefined;
  private err = '';
  private closed = false;

  constructor(t: Target) {
    this.proc = startAgent('ops', { host: t.host, port: t.port, user: t.user, keyFile: t.keyFile });
    createInterface({ input: this.proc.stdout! }).on('line', (l) => {
      this.lines.push(l);
      this.wake?.();
    });
    this.proc.stderr!.on(
      'data',
      (d: Buffer) => (this.err = (this.err + d.toString()).slice(-1000)),
    );
    this.proc.on('exit', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  private async line(timeoutMs: number): Promise<string> {
    const end = performance.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.closed) throw new Error(`ops agent exited: ${this.err.trim()}`);
      if (performance.now() > end) throw new Error(`ops agent: no answer in ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 200);
      });
    }
    return this.lines.shift()!;
  }

  /** Waits for READY; the login's milliseconds as the client saw them. */
  async ready(): Promise<number> {
    const l = await this.line(120000);
    const m = /^READY (.*)$/.exec(l);
    if (!m) throw new Error(`ops agent: expected READY, got ${l}`);
    return (JSON.parse(m[1]!) as { loginMs: number }).loginMs;
  }

  async send<R>(cmd: Record<string, unknown>, timeoutMs = 600000): Promise<R> {
    this.proc.stdin!.write(JSON.stringify(cmd) + '\n');
    return JSON.parse(await this.line(timeoutMs)) as R;
  }

  async close(): Promise<void> {
    this.proc.stdin!.end();
    const t = setTimeout(() => this.proc.kill('SIGTERM'), 5000);
    await exited(this.proc);
    clearTimeout(t);
  }
}

// ---------------------------------------------------------------- STAT latency under load

async function statPoint(
  t: Target,
  b: number,
  s: CurveSizes,
  source: string,
  rel: string,
): Promise<StatPoint> {
  mkdirOwned(t, rel);
  const target = `${rel}/stat-target`;
  writeFileSync(local(t, target), Buffer.alloc(4096, 1));
  chownSync(local(t, target), t.uid, t.gid);
  const up = b > 0 ? new Uploads(t, b, source, `${rel}/bg`) : undefined;
  try {
    await up?.started(60000 + b * 500);
    await sleep(1000);
    const agent = new OpsAgent(t);
    try {
      await agent.ready();
      const s0 = up?.sizes() ?? [];
      const sampler = new TreeSampler(t.pid, 1000, t.cpu);
      const machine = new MachineSampler();
      const main = t.name === 'ours' ? new MainThread(t.pid) : undefined;
      const t0 = performance.now();
      const r = await agent.send<StatLoopResult>({
        op: 'statloop',
        path: target,
        durationMs: s.statSecs * 1000,
      });
      const secs = (performance.now() - t0) / 1000;
      const mainThread = main?.stop();
      const s1 = up?.sizes() ?? [];
      const usage = sampler.stop();
      const machinePct = machine.stop();
      if (up?.errors.length) throw new Error(up.errors[0]);
      return {
        server: t.name,
        background: b,
        count: r.count,
        errors: r.errors,
        meanMs: r.meanMs,
        medianMs: r.medianMs,
        p90Ms: r.p90Ms,
        p99Ms: r.p99Ms,
        maxMs: r.maxMs,
        backgroundMiBs: s1.reduce((a, x, i) => a + x - s0[i]!, 0) / MiB / secs,
        serverCpuPct: (usage.cpuSeconds / secs) * 100,
        machinePct,
        ...(mainThread ? { mainThread } : {}),
      };
    } finally {
      await agent.close();
    }
  } finally {
    await up?.stop();
    await sleep(1500);
  }
}

// ---------------------------------------------------------------- small files as the home grows

const DIGITS = 7;

/** Fills dir with 4 KiB files f0000000… up to `count` (the ones already there are kept). */
function populate(t: Target, dir: string, from: number, count: number): void {
  const data = Buffer.alloc(4096, 7);
  for (let i = from; i < count; i++) {
    const p = join(dir, `f${String(i).padStart(DIGITS, '0')}`);
    writeFileSync(p, data, { mode: 0o644 });
    chownSync(p, t.uid, t.gid);
  }
}

async function smallFilesPoint(
  t: Target,
  files: number,
  s: CurveSizes,
  rel: string,
): Promise<SmallFilesPoint> {
  const dir = local(t, rel);
  const c0 = cpuSecs(t) ?? NaN;
  const agent = new OpsAgent(t);
  try {
    const loginMs = await agent.ready();
    const cLogin = cpuSecs(t) ?? NaN;
    // untimed warm-up in the same session: the session's first requests pay one-time costs
    await agent.send<PutResult>({
      op: 'put',
      dir: rel,
      prefix: `w${files}_`,
      count: Math.ceil(s.smallPuts / 10),
      parallel: s.smallParallel,
      size: 4096,
    });
    await agent.send<StatResult>({
      op: 'stat',
      dir: rel,
      prefix: 'f',
      digits: DIGITS,
      range: files,
      count: Math.ceil(s.smallStats / 10),
      parallel: s.smallParallel,
    });
    const c1 = cpuSecs(t) ?? NaN;
    const put = await agent.send<PutResult>({
      op: 'put',
      dir: rel,
      prefix: `u${files}_`,
      count: s.smallPuts,
      parallel: s.smallParallel,
      size: 4096,
    });
    const c2 = cpuSecs(t) ?? NaN;
    const st = await agent.send<StatResult>({
      op: 'stat',
      dir: rel,
      prefix: 'f',
      digits: DIGITS,
      range: files,
      count: s.smallStats,
      parallel: s.smallParallel,
    });
    const c3 = cpuSecs(t) ?? NaN;
    return {
      server: t.name,
      files,
      loginMs,
      loginCpuMs: (cLogin - c0) * 1000,
      putFilesPerSec: put.files / put.secs,
      putCpuUs: ((c2 - c1) / Math.max(1, put.files)) * 1e6,
      statsPerSec: st.count / st.secs,
      statCpuUs: ((c3 - c2) / Math.max(1, st.count)) * 1e6,
      errors: put.errors + st.errors,
    };
  } finally {
    await agent.close();
    // the uploads go again, so that the next point starts from exactly `files` + the new fill;
    // moved away, not deleted, so that the next point's creates do not pay for deletions
    // (settleRemovals); the session is closed meanwhile: the next login is the first again
    retireTrees(
      readdirSync(dir)
        .filter((f) => !f.startsWith('f'))
        .map((f) => join(dir, f)),
    );
  }
}

// ---------------------------------------------------------------- all of them

export async function runCurves(
  env: CurvesEnv,
  s: CurveSizes,
  want: (name: CurveName) => boolean,
): Promise<CurvesResult> {
  const res: CurvesResult = {
    sizes: s,
    throughput: [],
    idle: [],
    stat: [],
    smallFiles: [],
    failures: [],
  };
  const rel = `${env.rdir}/curves`;
  for (const t of env.targets) mkdirOwned(t, rel);
  // the uploads' source: sparse, larger than any window can send (zeros; the wire is encrypted)
  const source = join(env.work, 'curves-source.bin');
  writeFileSync(source, '');
  truncateSync(source, 1024 * 1024 * MiB);

  const attempt = async <P>(what: string, fn: () => Promise<P>, into: P[]): Promise<void> => {
    try {
      const p = await fn();
      into.push(p);
    } catch (e) {
      res.failures.push(`${what}: ${(e as Error).message}`);
      log(`${what}: FAILED: ${(e as Error).message}`);
    }
  };

  if (want('curves_throughput')) {
    log(`=== curves_throughput: ${s.sessions.join(', ')} concurrent sftp uploads`);
    for (const [i, n] of s.sessions.entries())
      for (const t of order(env.targets, i))
        await attempt(
          `curves_throughput ${t.name} ${n}`,
          async () => {
            const p = await throughputPoint(t, n, s, source, `${rel}/tp`);
            log(
              `throughput ${t.name} ${n} sessions: ${p.aggregateMiBs.toFixed(1)} MiB/s, ` +
                `Jain ${p.jain.toFixed(3)}, server CPU ${p.serverCpuPct.toFixed(0)}%, machine ${p.machinePct.toFixed(0)}%`,
            );
            return p;
          },
          res.throughput,
        );
  }
  if (want('curves_idle')) {
    log(`=== curves_idle: ${s.idle.join(', ')} idle sessions`);
    for (const [i, n] of s.idle.entries())
      for (const t of order(env.targets, i))
        await attempt(
          `curves_idle ${t.name} ${n}`,
          () =>
            env.fresh(t, async (f) => {
              const p = await idlePoint(f, n, Math.min(5, s.windowSecs));
              log(
                `idle ${t.name} ${n} sessions: RSS ${p.rssMiB.toFixed(1)} MiB, PSS ${p.pssMiB.toFixed(1)} MiB ` +
                  `(${p.perSessionRssKiB.toFixed(0)} / ${p.perSessionPssKiB.toFixed(0)} KiB each), ` +
                  `set up in ${p.setupSecs.toFixed(1)} s, idle CPU ${p.idleCpuPct.toFixed(1)}%`,
              );
              return p;
            }),
          res.idle,
        );
  }
  if (want('curves_stat')) {
    log(`=== curves_stat: STAT latency with ${s.statBackground.join(', ')} uploads alongside`);
    for (const [i, b] of s.statBackground.entries())
      for (const t of order(env.targets, i))
        await attempt(
          `curves_stat ${t.name} ${b}`,
          async () => {
            const p = await statPoint(t, b, s, source, `${rel}/st`);
            log(
              `stat ${t.name} with ${b} uploads: median ${p.medianMs.toFixed(2)} ms, p99 ${p.p99Ms.toFixed(1)} ms, ` +
                `max ${p.maxMs.toFixed(1)} ms (${p.count} STATs; uploads ${p.backgroundMiBs.toFixed(0)} MiB/s)`,
            );
            return p;
          },
          res.stat,
        );
  }
  if (want('curves_smallfiles')) {
    log(
      `=== curves_smallfiles: 4 KiB uploads and STATs in a directory of ${s.homeFiles.join(', ')}`,
    );
    const have = new Map<Target, number>();
    for (const t of env.targets) mkdirOwned(t, `${rel}/many`);
    for (const [i, n] of s.homeFiles.entries())
      for (const t of order(env.targets, i))
        await attempt(
          `curves_smallfiles ${t.name} ${n}`,
          async () => {
            const t0 = performance.now();
            populate(t, local(t, `${rel}/many`), have.get(t) ?? 0, n);
            have.set(t, n);
            log(
              `${t.name}: ${n} files in place (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
            );
            await settleRemovals();
            const p = await smallFilesPoint(t, n, s, `${rel}/many`);
            log(
              `smallfiles ${t.name} ${n} files: login ${p.loginMs.toFixed(0)} ms, ` +
                `put ${p.putFilesPerSec.toFixed(0)} files/s (${p.putCpuUs.toFixed(0)} µs CPU each), ` +
                `stat ${p.statsPerSec.toFixed(0)}/s (${p.statCpuUs.toFixed(0)} µs each)`,
            );
            return p;
          },
          res.smallFiles,
        );
    removeTrees(env.targets.map((t) => local(t, `${rel}/many`)));
  }
  rmSync(source, { force: true });
  return res;
}

/**
 * The curves as a step of `npm run bench`: runs those selected, writes bench/results/curves.json
 * and curves.svg, prints the tables; returns the failures.
 */
export async function curvesStep(a: {
  env: CurvesEnv;
  quick: boolean;
  rt: boolean;
  keepAwake: boolean;
  want: (name: CurveName) => boolean;
  software: CurvesReport['software'];
  reference?: string;
  resultsDir: string;
}): Promise<string[]> {
  const loadavgStart = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  const startedAt = new Date().toISOString();
  const res = await runCurves(a.env, a.quick ? QUICK_CURVES : FULL_CURVES, a.want);
  const report: CurvesReport = {
    date: startedAt,
    host: hostInfo(),
    loadavgStart,
    loadavgEnd: loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
    rt: a.rt,
    keepAwake: a.keepAwake,
    quick: a.quick,
    software: a.software,
    ...(a.reference ? { reference: a.reference } : {}),
    cpuAccounting: Object.fromEntries(
      a.env.targets.map((t) => [t.name, t.cpu ? 'cgroup' : 'none (CPU columns empty)']),
    ),
    ...res,
  };
  const out = writeCurves(a.resultsDir, report);
  console.log(
    `# curves ${report.date}, load ${report.loadavgStart} -> ${report.loadavgEnd}` +
      (a.rt ? ', SCHED_RR 10 (--rt)' : '') +
      (a.keepAwake ? ', vCPUs kept awake (--keep-awake)' : '') +
      (a.quick ? ' (--quick: small sizes)' : ''),
  );
  console.log(curvesTable(report));
  console.log(`wrote ${out.json} and ${out.svg}\n`);
  return res.failures;
}

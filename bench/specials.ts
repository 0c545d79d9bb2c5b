// Measurements that are not "time one operation": argon2id cost, idle-session memory, logins per
// second during a transfer, and the server's memory under a READ flood from a client that stops
// reading.
import argon2 from 'argon2';
import { copyFileSync, chownSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { DEFAULTS } from '../server/config.js';
import type { Target } from './target.js';
import { AGENT, sftp, type Ctx } from './workloads.js';
import { sleep } from '../test/helpers/proc.js';
import { memStatus, processTree, pssOf, rssOf } from '../test/helpers/procfs.js';
import { log, median, spawnTracked, TreeSampler } from './util.js';

export interface Argon2Result {
  params: { memoryCost: number; timeCost: number; parallelism: number };
  verifyMs: number;
  samples: number[];
}

export async function argon2Cost(n: number): Promise<Argon2Result> {
  const p = DEFAULTS.argon2;
  const hash = await argon2.hash('bench-password', { type: argon2.argon2id, ...p });
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    if (!(await argon2.verify(hash, 'bench-password'))) throw new Error('argon2 verify failed');
    samples.push(performance.now() - t0);
  }
  return { params: { ...p }, verifyMs: median(samples), samples };
}

export function startAgent(mode: string, args: Record<string, unknown>): ChildProcess {
  return spawnTracked(process.execPath, [AGENT, mode, JSON.stringify(args)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export function waitLine(c: ChildProcess, re: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((res, rej) => {
    let out = '';
    let err = '';
    const t = setTimeout(
      () => rej(new Error(`agent: no ${re} after ${timeoutMs} ms: ${err}`)),
      timeoutMs,
    );
    c.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) {
        clearTimeout(t);
        res(m[0]);
      }
    });
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    c.once('exit', (code) => {
      clearTimeout(t);
      rej(new Error(`agent exited (${code}) before ${re}: ${err.trim()}`));
    });
  });
}

export function exited(c: ChildProcess): Promise<void> {
  return c.exitCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()));
}

function agentTarget(t: Target): Record<string, unknown> {
  return { host: t.host, port: t.port, user: t.user, keyFile: t.keyFile };
}

export interface IdleResult {
  sessions: number;
  /** resident memory per idle session, bytes */
  perSession: number;
  /** proportional set size per session (shared library pages split among processes), bytes */
  perSessionPss: number;
  totalRss: number;
  baseRss: number;
  processes: number;
}

/**
 * N authenticated SFTP sessions held open by one ssh2 client process. Ours: growth of the server's
 * RSS / N. OpenSSH: sum of the RSS of its per-session processes / N (the listener excluded).
 */
export async function idleSessions(t: Target, n: number): Promise<IdleResult> {
  await sftp(t, 'pwd\n'); // warm-up: the first login loads code that later ones share
  await sleep(500);
  const base = t.name === 'ours' ? memStatus(t.pid).rss : rssOf([t.pid]);
  const basePss = pssOf([t.pid]);
  const a = startAgent('idle', { ...agentTarget(t), count: n });
  try {
    await waitLine(a, /READY \d+/, 120000 + n * 1000);
    await sleep(2000);
    const pids = processTree(t.pid);
    let total: number;
    let perSession: number;
    let perSessionPss: number;
    if (t.name === 'ours') {
      total = memStatus(t.pid).rss;
      perSession = (total - base) / n;
      perSessionPss = (pssOf([t.pid]) - basePss) / n;
    } else {
      total = rssOf(pids);
      const sessions = pids.filter((p) => p !== t.pid);
      perSession = rssOf(sessions) / n;
      perSessionPss = pssOf(sessions) / n;
    }
    return {
      sessions: n,
      perSession,
      perSessionPss,
      totalRss: total,
      baseRss: base,
      processes: pids.length,
    };
  } finally {
    a.stdin!.end();
    a.kill('SIGTERM');
    await exited(a);
    await sleep(1000);
  }
}

export interface LoginsResult {
  parallel: number;
  idle: { perSec: number; ok: number; failed: number; medianMs: number };
  duringTransfer: {
    perSec: number;
    ok: number;
    failed: number;
    medianMs: number;
    transfers: number;
  };
}

async function loginBurst(t: Target, ms: number, parallel: number) {
  const a = startAgent('logins', {
    host: t.host,
    port: t.port,
    user: t.user,
    password: t.password,
    durationMs: ms,
    parallel,
  });
  let out = '';
  a.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  let err = '';
  a.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await exited(a);
  if (a.exitCode !== 0) throw new Error(`logins agent failed: ${err}`);
  const r = JSON.parse(out) as { ok: number; failed: number; secs: number; medianMs: number };
  return { perSec: r.ok / r.secs, ok: r.ok, failed: r.failed, medianMs: r.medianMs };
}

/** Password logins/s (ssh2 clients, `parallel` at a time) idle and while 1 GiB uploads run. */
export async function loginsDuringTransfer(
  t: Target,
  ctx: Ctx,
  ms: number,
  parallel: number,
): Promise<LoginsResult> {
  const idle = await loginBurst(t, ms, parallel);
  let stop = false;
  let transfers = 0;
  const loop = (async () => {
    while (!stop) {
      await sftp(t, `put ${ctx.largeFile} ${ctx.rdir}/login-load.bin\n`);
      transfers++;
    }
  })();
  await sleep(1000); // let the transfer get going
  const during = await loginBurst(t, ms, parallel);
  stop = true;
  await loop;
  return { parallel, idle, duringTransfer: { ...during, transfers } };
}

export interface FloodResult {
  requests: number;
  requestSize: number;
  baseRss: number;
  peakRss: number;
  survived: boolean;
  holdSecs: number;
}

/**
 * One client pipelines `count` READs of 255 KiB and never reads a reply. The server must stop
 * reading requests once the channel window closes; its resident memory is sampled meanwhile.
 */
export async function readFlood(
  t: Target,
  ctx: Ctx,
  count: number,
  holdMs: number,
): Promise<FloodResult> {
  const rel = `${ctx.rdir}/flood.bin`;
  const p = join(t.startDir, rel);
  if (!existsSync(p)) {
    copyFileSync(ctx.concFile, p);
    chownSync(p, t.uid, t.gid);
  }
  const size = 255 * 1024;
  const base = rssOf(processTree(t.pid));
  const sampler = new TreeSampler(t.pid, 50, t.cpu);
  const a = startAgent('flood', {
    ...agentTarget(t),
    remote: rel,
    count,
    size,
    fileSize: ctx.sizes.concurrentMiB * 1048576,
  });
  try {
    await waitLine(a, /SENT/, 60000);
    await sleep(holdMs);
  } finally {
    a.kill('SIGTERM');
    await exited(a);
  }
  const usage = sampler.stop();
  await sleep(500);
  let survived = true;
  try {
    await sftp(t, 'pwd\n');
  } catch (e) {
    survived = false;
    log(`${t.name}: server did not answer after the READ flood: ${(e as Error).message}`);
  }
  return {
    requests: count,
    requestSize: size,
    baseRss: base,
    peakRss: usage.peakRss,
    survived,
    holdSecs: holdMs / 1000,
  };
}

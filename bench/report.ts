// The results: a text table on stdout, bench/results/latest.json and a bar chart
// bench/results/latest.svg (ours / OpenSSH ratio per workload, with the 1.0 line).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Argon2Result, FloodResult, IdleResult, LoginsResult } from './specials.js';
import type { Unit } from './workloads.js';
import type { HostInfo } from './util.js';

export interface SideResult {
  /** wall seconds of each run */
  runs: number[];
  medianSecs: number;
  /** amount / median seconds, in the row's unit */
  rate: number;
  /** server CPU (user+sys of the server's process tree) / wall × 100, median over runs */
  cpuPct: number;
  /** server CPU seconds per run, median */
  cpuSecs: number;
  /** highest server resident memory seen in any run, bytes */
  peakRss: number;
  /** whole machine busy % during the runs (median; 100 = one core) */
  machinePct: number;
  error?: string;
}

export interface Row {
  id: string;
  group: string;
  unit: Unit;
  describe: string;
  ours?: SideResult;
  openssh?: SideResult;
  /** ours rate / OpenSSH rate (higher is better for us) */
  ratio?: number;
  /** our server CPU seconds / OpenSSH's for the same work */
  cpuRatio?: number;
  note?: string;
  skipped?: string;
  /**
   * Workloads with a `versus` (our client): per server, this workload against the other one run
   * alternately on the same server with the same file. ratio = its median seconds / ours.
   */
  versus?: Record<string, Versus>;
}

export interface Versus {
  against: string;
  ratio: number;
  runs: number[];
  againstRuns: number[];
  /** CPU seconds of the client processes (median per run) */
  clientCpuSecs: number;
  againstClientCpuSecs: number;
  /** server CPU seconds (median per run) */
  serverCpuSecs: number;
  againstServerCpuSecs: number;
}

export interface Report {
  date: string;
  host: HostInfo;
  loadavgStart: string;
  loadavgEnd: string;
  /** whole machine busy % over the bench (100 = one core) */
  machineBusyPct: number;
  options: Record<string, unknown>;
  software: { ours: string; openssh?: string; client: string; node: string };
  reference?: string;
  /** how server CPU was counted, per server: 'cgroup' (exact) or '/proc sampling' */
  cpuAccounting: Record<string, string>;
  rows: Row[];
  /** --cluster: the cluster's own figures (the rows compare it with one file-store node) */
  cluster?: {
    nodes?: number;
    /** PostgreSQL transactions committed or rolled back per GiB uploaded through the cluster */
    transactionsPerGiB?: number;
    /** the same while idle (heartbeats of every node), per second */
    idleTransactionsPerSec?: number;
    /** CPU seconds of HAProxy / PostgreSQL per GiB uploaded through the cluster */
    haproxyCpuSecsPerGiB?: number;
    postgresCpuSecsPerGiB?: number;
    /** password logins per second on the single file-store node (`logins` has the cluster's) */
    singleLogins?: LoginsResult;
  };
  argon2?: Argon2Result;
  idleSessions?: {
    ours?: IdleResult;
    openssh?: IdleResult;
    /** OpenSSH RSS per session / ours (sum of RSS counts shared library pages once per process) */
    ratio?: number;
    /** the same with proportional set size (shared pages split), the fairer comparison */
    ratioPss?: number;
  };
  logins?: LoginsResult;
  readFlood?: { ours?: FloodResult; openssh?: FloodResult; limitBytes: number; pass?: boolean };
  failures: string[];
}

function fmtRate(s: SideResult | undefined, unit: Unit): string {
  if (!s) return '-';
  if (s.error) return 'FAIL';
  const v = s.rate;
  const n = v >= 1000 ? v.toFixed(0) : v >= 100 ? v.toFixed(1) : v.toFixed(2);
  return `${n} ${unit}`;
}

function fmtMiB(b: number | undefined): string {
  return b === undefined || !Number.isFinite(b)
    ? '-'
    : (b / 1048576).toFixed(b < 10 * 1048576 ? 1 : 0);
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

export function table(r: Report): string {
  const head = [
    'workload',
    'ours',
    'OpenSSH',
    'ratio',
    'CPU% ours/ref',
    'CPU ratio',
    'peak RSS MiB ours/ref',
    'note',
  ];
  const rows: string[][] = [head];
  for (const x of r.rows) {
    if (x.skipped) {
      rows.push([x.id, 'skipped', '', '', '', '', '', x.skipped]);
      continue;
    }
    const o = x.ours;
    const f = x.openssh;
    rows.push([
      x.id,
      fmtRate(o, x.unit),
      fmtRate(f, x.unit),
      x.ratio !== undefined ? x.ratio.toFixed(2) : '-',
      `${o && !o.error ? o.cpuPct.toFixed(0) : '-'}/${f && !f.error ? f.cpuPct.toFixed(0) : '-'}`,
      x.cpuRatio !== undefined ? x.cpuRatio.toFixed(2) : '-',
      `${fmtMiB(o?.peakRss)}/${fmtMiB(f?.peakRss)}`,
      x.note ??
        (o?.error || f?.error ? `${o?.error ?? ''} ${f?.error ?? ''}`.trim().slice(0, 80) : ''),
    ]);
  }
  const w = head.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) =>
    row
      .map((c, i) => pad(c, w[i]!, i >= 1 && i <= 6))
      .join('  ')
      .trimEnd(),
  );
  lines.splice(1, 0, w.map((n) => '-'.repeat(n)).join('  '));
  const extra: string[] = [];
  if (r.idleSessions) {
    const i = r.idleSessions;
    const kib = (x?: IdleResult): string =>
      x
        ? `${(x.perSession / 1024).toFixed(0)} KiB (PSS ${(x.perSessionPss / 1024).toFixed(0)} KiB)`
        : '-';
    const n = i.ours?.sessions ?? i.openssh?.sessions ?? 0;
    extra.push(
      `idle sessions (${n}): RSS per session ours ${kib(i.ours)}, OpenSSH ${kib(i.openssh)}` +
        (i.ratio !== undefined
          ? ` (OpenSSH/ours: RSS ${i.ratio.toFixed(1)}, PSS ${(i.ratioPss ?? NaN).toFixed(1)}; >1 = we use less)`
          : '') +
        (i.ours ? `; target < 2048 KiB: ${i.ours.perSession < 2 * 1048576 ? 'ok' : 'MISSED'}` : ''),
    );
  }
  if (r.readFlood) {
    const f = r.readFlood;
    const d = (x?: FloodResult): string =>
      x
        ? `peak ${fmtMiB(x.peakRss)} MiB (from ${fmtMiB(x.baseRss)})${x.survived ? '' : ' SERVER DEAD'}`
        : '-';
    const n = f.ours?.requests ?? f.openssh?.requests ?? 0;
    extra.push(
      `READ flood (${n} x 255 KiB, client stops reading): ours ${d(f.ours)}, OpenSSH ${d(f.openssh)}; ` +
        `limit ${fmtMiB(f.limitBytes)} MiB: ${f.pass === undefined ? '-' : f.pass ? 'ok' : 'MISSED'}`,
    );
  }
  if (r.argon2) {
    const a = r.argon2;
    extra.push(
      `argon2id verify (m=${a.params.memoryCost} KiB, t=${a.params.timeCost}, p=${a.params.parallelism}): ` +
        `${a.verifyMs.toFixed(1)} ms median of ${a.samples.length}; target 20-100 ms: ` +
        `${a.verifyMs >= 20 && a.verifyMs <= 100 ? 'ok' : 'MISSED'}`,
    );
  }
  if (r.cluster) {
    const c = r.cluster;
    const one = c.singleLogins;
    extra.push(
      `cluster (${c.nodes ?? '?'} nodes, PostgreSQL, HAProxy; "OpenSSH" column = one file-store node): ` +
        `PostgreSQL transactions per GiB uploaded ${c.transactionsPerGiB?.toFixed(0) ?? '-'}, ` +
        `idle ${c.idleTransactionsPerSec?.toFixed(1) ?? '-'}/s; ` +
        `CPU s per GiB uploaded beside the nodes: HAProxy ${c.haproxyCpuSecsPerGiB?.toFixed(2) ?? '-'}, ` +
        `PostgreSQL ${c.postgresCpuSecsPerGiB?.toFixed(2) ?? '-'}` +
        (one
          ? `; password logins/s on one file-store node: idle ${one.idle.perSec.toFixed(1)}/s`
          : ''),
    );
  }
  if (r.logins) {
    const l = r.logins;
    extra.push(
      `password logins/s (${l.parallel} parallel ssh2 clients): idle ${l.idle.perSec.toFixed(1)}/s ` +
        `(median ${l.idle.medianMs.toFixed(0)} ms), during back-to-back sftp uploads ${l.duringTransfer.perSec.toFixed(1)}/s ` +
        `(median ${l.duringTransfer.medianMs.toFixed(0)} ms, ${l.duringTransfer.failed} failed)`,
    );
  }
  return [...lines, '', ...extra].join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Horizontal bar chart of the ratios, a dashed line at 1.0. No dependencies. */
export function svg(r: Report): string {
  const rows = r.rows.filter((x) => x.ratio !== undefined && Number.isFinite(x.ratio));
  const extra: { id: string; ratio: number }[] = [];
  if (r.idleSessions?.ratioPss !== undefined)
    extra.push({ id: 'idle_sessions memory (PSS, OpenSSH/ours)', ratio: r.idleSessions.ratioPss });
  const bars = [...rows.map((x) => ({ id: x.id, ratio: x.ratio! })), ...extra];
  const labelW = 250;
  const plotW = 520;
  const rowH = 22;
  const top = 58;
  const h = top + bars.length * rowH + 40;
  // the axis stops at 4: longer bars are cut (their label still gives the value)
  const max = Math.min(4, Math.max(2, ...bars.map((b) => b.ratio)) * 1.05);
  const x = (v: number): number => labelW + (Math.min(v, max) / max) * plotW;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + plotW + 70}" height="${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">jailsftpd vs OpenSSH sshd (internal-sftp): ours / OpenSSH, higher is better</text>`,
    `<text x="10" y="38" fill="#555">${esc(`${r.date}, ${r.host.cpus} CPUs ${r.host.cpuModel}, load ${r.loadavgStart}, runs ${String(r.options.runs)}, ${String(r.options.sizeMiB)} MiB${r.options.rt ? ', SCHED_RR' : ''}${r.options.keepAwake ? ', vCPUs kept awake' : ''}`)}</text>`,
  );
  for (let v = 0; v <= max; v += max > 4 ? 1 : 0.5) {
    out.push(
      `<line x1="${x(v)}" y1="${top - 6}" x2="${x(v)}" y2="${top + bars.length * rowH}" stroke="#eee"/>`,
      `<text x="${x(v)}" y="${top + bars.length * rowH + 16}" text-anchor="middle" fill="#555">${v.toFixed(1)}</text>`,
    );
  }
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const colour = b.ratio >= 1 ? '#2e7d32' : b.ratio >= 0.8 ? '#f9a825' : '#c62828';
    out.push(
      `<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(b.id)}</text>`,
      `<rect x="${labelW}" y="${y + 3}" width="${Math.max(1, x(b.ratio) - labelW)}" height="${rowH - 6}" fill="${colour}"/>`,
      `<text x="${x(b.ratio) + 4}" y="${y + 15}">${b.ratio.toFixed(2)}</text>`,
    );
  });
  out.push(
    `<line x1="${x(1)}" y1="${top - 8}" x2="${x(1)}" y2="${top + bars.length * rowH + 2}" stroke="#000" stroke-width="1.5" stroke-dasharray="4 3"/>`,
    `<text x="${x(1) + 3}" y="${top - 10}" fill="#000">1.0 = OpenSSH</text>`,
    `</svg>`,
  );
  return out.join('\n') + '\n';
}

export function writeResults(dir: string, r: Report): { json: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'latest.json');
  const chart = join(dir, 'latest.svg');
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(chart, svg(r));
  return { json, svg: chart };
}

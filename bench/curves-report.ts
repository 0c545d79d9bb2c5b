// The curves' results (bench/curves.ts): text tables on stdout, bench/results/curves.json and one
// SVG with four panels, bench/results/curves.svg. No dependencies.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CurvesResult, ThreadStates } from './curves.js';
import type { HostInfo } from './util.js';

export interface CurvesReport extends CurvesResult {
  date: string;
  host: HostInfo;
  loadavgStart: string;
  loadavgEnd: string;
  rt: boolean;
  /** --keep-awake: one SCHED_IDLE busy loop per CPU (absent in results from before it existed) */
  keepAwake?: boolean;
  quick: boolean;
  software: { ours: string; openssh?: string; client: string; node: string };
  reference?: string;
  cpuAccounting: Record<string, string>;
}

// ---------------------------------------------------------------- text tables

function fmt(v: number | undefined, digits = 1): string {
  return v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

function tableOf(head: string[], rows: string[][]): string {
  const all = [head, ...rows];
  const w = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

/** running / disk wait / idle shares of our main thread */
function states(s: ThreadStates | undefined): string {
  return s ? `${fmt(s.running, 0)}/${fmt(s.disk, 0)}/${fmt(s.idle, 0)}` : '-';
}

export function curvesTable(r: CurvesReport): string {
  const out: string[] = [];
  if (r.throughput.length) {
    out.push(
      '# concurrent sftp uploads: aggregate MiB/s, Jain fairness index over the sessions',
      tableOf(
        [
          'server',
          'sessions',
          'MiB/s',
          'Jain',
          'min/max MiB/s',
          'start s',
          'CPU%',
          'machine%',
          'RSS MiB peak',
          'start/end',
          'main thread R/D/S %',
        ],
        r.throughput.map((p) => [
          p.server,
          String(p.sessions),
          fmt(p.aggregateMiBs),
          fmt(p.jain, 3),
          `${fmt(p.minMiBs, 2)}/${fmt(p.maxMiBs, 2)}`,
          fmt(p.startSecs),
          fmt(p.serverCpuPct, 0),
          fmt(p.machinePct, 0),
          fmt(p.serverRssMiB, 0),
          `${fmt(p.rssStartMiB, 0)}/${fmt(p.rssEndMiB, 0)}`,
          states(p.mainThread),
        ]),
      ),
      '',
    );
  }
  if (r.idle.length) {
    out.push(
      '# idle authenticated SFTP sessions: server memory',
      tableOf(
        [
          'server',
          'sessions',
          'RSS MiB',
          'PSS MiB',
          'KiB/session RSS',
          'PSS',
          'procs',
          'setup s',
          'idle CPU%',
        ],
        r.idle.map((p) => [
          p.server,
          String(p.sessions),
          fmt(p.rssMiB),
          fmt(p.pssMiB),
          fmt(p.perSessionRssKiB, 0),
          fmt(p.perSessionPssKiB, 0),
          String(p.processes),
          fmt(p.setupSecs),
          fmt(p.idleCpuPct),
        ]),
      ),
      '',
    );
  }
  if (r.stat.length) {
    out.push(
      '# STAT latency, one at a time, while other sessions upload',
      tableOf(
        [
          'server',
          'uploads',
          'STATs',
          'mean ms',
          'median',
          'p90',
          'p99',
          'max',
          'uploads MiB/s',
          'CPU%',
          'machine%',
          'main thread R/D/S %',
        ],
        r.stat.map((p) => [
          p.server,
          String(p.background),
          String(p.count),
          fmt(p.meanMs ?? (r.sizes.statSecs * 1000) / p.count, 2),
          fmt(p.medianMs, 3),
          fmt(p.p90Ms, 2),
          fmt(p.p99Ms, 2),
          fmt(p.maxMs, 1),
          fmt(p.backgroundMiBs, 0),
          fmt(p.serverCpuPct, 0),
          fmt(p.machinePct, 0),
          states(p.mainThread),
        ]),
      ),
      '',
    );
  }
  if (r.smallFiles.length) {
    out.push(
      `# 4 KiB files in one directory: uploads/s and STATs/s (${r.sizes.smallPuts} uploads, ${r.sizes.smallStats} STATs, ${r.sizes.smallParallel} in flight)`,
      tableOf(
        [
          'server',
          'files',
          'login ms',
          'login CPU ms',
          'puts/s',
          'CPU µs/put',
          'STATs/s',
          'CPU µs/STAT',
          'errors',
        ],
        r.smallFiles.map((p) => [
          p.server,
          String(p.files),
          fmt(p.loginMs, 0),
          fmt(p.loginCpuMs, 0),
          fmt(p.putFilesPerSec, 0),
          fmt(p.putCpuUs, 0),
          fmt(p.statsPerSec, 0),
          fmt(p.statCpuUs, 0),
          String(p.errors),
        ]),
      ),
      '',
    );
  }
  return out.join('\n');
}

// ---------------------------------------------------------------- SVG

const COLOUR: Record<string, string> = {
  ours: '#1565c0',
  openssh: '#c62828',
  'ours+ops': '#6a1b9a',
  single: '#2e7d32',
};

interface Series {
  name: string;
  colour: string;
  dash?: string;
  /** the right-hand axis */
  right?: boolean;
  points: [number, number][];
}

interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  yRightLabel?: string;
  xLog: boolean;
  yLog: boolean;
  /** x values to tick (the measured points) */
  xTicks: number[];
  yRight?: [number, number];
  series: Series[];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function num(v: number): string {
  if (v >= 1000) return `${Number((v / 1000).toPrecision(3))}k`;
  if (v >= 10 || v === 0) return String(Math.round(v));
  return String(Number(v.toPrecision(2)));
}

/** "Nice" ticks over [lo, hi]: linear, or powers of ten (with 2 and 5) on a log axis. */
function ticks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    // 1, 2, 5 per decade; over more than three decades only the powers of ten
    const ms = Math.log10(hi / lo) > 3 ? [1] : [1, 2, 5];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
      for (const m of ms) {
        const v = m * 10 ** e;
        if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
      }
    return out;
  }
  const step0 = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(step0 || 1));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((x) => x >= step0) ?? step0;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(v);
  return out;
}

function panel(p: Panel, ox: number, oy: number, w: number, h: number): string[] {
  const left = 62;
  const right = p.yRight ? 52 : 16;
  const top = 30;
  const bottom = 64;
  const pw = w - left - right;
  const ph = h - top - bottom;
  const out: string[] = [];
  const lefts = p.series.filter((s) => !s.right).flatMap((s) => s.points);
  const xs = [...p.xTicks, ...p.series.flatMap((s) => s.points.map((q) => q[0]))];
  if (lefts.length === 0) {
    out.push(
      `<text x="${ox + w / 2}" y="${oy + 16}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`,
      `<text x="${ox + w / 2}" y="${oy + h / 2}" text-anchor="middle" fill="#888">not measured</text>`,
    );
    return out;
  }
  const lx = (v: number): number => (p.xLog ? Math.log10(Math.max(v, 1e-9)) : v);
  let x0 = Math.min(...xs.map(lx));
  let x1 = Math.max(...xs.map(lx));
  if (x1 === x0) {
    x0 -= 1;
    x1 += 1;
  }
  const padX = (x1 - x0) * 0.06;
  x0 -= padX;
  x1 += padX;
  const ys = lefts.map((q) => q[1]).filter((v) => Number.isFinite(v) && (!p.yLog || v > 0));
  let ylo = p.yLog ? Math.min(...ys) / 1.5 : 0;
  let yhi = Math.max(...ys) * (p.yLog ? 1.5 : 1.12);
  if (p.yLog) {
    ylo = 10 ** Math.floor(Math.log10(ylo));
    yhi = 10 ** Math.ceil(Math.log10(yhi));
  } else if (yhi <= ylo) yhi = ylo + 1;
  const ly = (v: number): number => (p.yLog ? Math.log10(v) : v);
  const X = (v: number): number => ox + left + ((lx(v) - x0) / (x1 - x0)) * pw;
  const Y = (v: number): number => oy + top + ph - ((ly(v) - ly(ylo)) / (ly(yhi) - ly(ylo))) * ph;
  const [r0, r1] = p.yRight ?? [0, 1];
  const YR = (v: number): number => oy + top + ph - ((v - r0) / (r1 - r0)) * ph;
  out.push(
    `<text x="${ox + w / 2}" y="${oy + 16}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`,
    `<rect x="${ox + left}" y="${oy + top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`,
  );
  for (const v of ticks(ylo, yhi, p.yLog)) {
    const y = Y(v);
    out.push(
      `<line x1="${ox + left}" y1="${y}" x2="${ox + left + pw}" y2="${y}" stroke="#eee"/>`,
      `<text x="${ox + left - 5}" y="${y + 4}" text-anchor="end" fill="#444">${num(v)}</text>`,
    );
  }
  if (p.yRight) {
    for (const v of ticks(r0, r1, false))
      out.push(
        `<text x="${ox + left + pw + 5}" y="${YR(v) + 4}" fill="#444">${Number(v.toFixed(2))}</text>`,
      );
    out.push(
      `<text transform="translate(${ox + w - 8},${oy + top + ph / 2}) rotate(90)" text-anchor="middle" fill="#444">${esc(p.yRightLabel ?? '')}</text>`,
    );
  }
  for (const v of p.xTicks) {
    const x = X(v);
    out.push(
      `<line x1="${x}" y1="${oy + top}" x2="${x}" y2="${oy + top + ph}" stroke="#eee"/>`,
      `<text x="${x}" y="${oy + top + ph + 15}" text-anchor="middle" fill="#444">${num(v)}</text>`,
    );
  }
  out.push(
    `<text x="${ox + left + pw / 2}" y="${oy + top + ph + 32}" text-anchor="middle">${esc(p.xLabel)}</text>`,
    `<text transform="translate(${ox + 14},${oy + top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(p.yLabel)}</text>`,
  );
  for (const s of p.series) {
    const pts = s.points.filter(([, y]) => Number.isFinite(y) && (s.right || !p.yLog || y > 0));
    if (!pts.length) continue;
    const yf = s.right ? YR : Y;
    const d = pts
      .map(([x, y], i) => `${i ? 'L' : 'M'}${X(x).toFixed(1)},${yf(y).toFixed(1)}`)
      .join(' ');
    out.push(
      `<path d="${d}" fill="none" stroke="${s.colour}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
      ...pts.map(
        ([x, y]) =>
          `<circle cx="${X(x).toFixed(1)}" cy="${yf(y).toFixed(1)}" r="3" fill="${s.colour}"/>`,
      ),
    );
  }
  // legend under the x label, in two or three columns
  const cols = p.series.length > 4 ? 3 : 2;
  p.series.forEach((s, i) => {
    const lxp = ox + left + (i % cols) * (pw / cols);
    const lyp = oy + top + ph + 46 + Math.floor(i / cols) * 14;
    out.push(
      `<line x1="${lxp}" y1="${lyp - 4}" x2="${lxp + 22}" y2="${lyp - 4}" stroke="${s.colour}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
      `<text x="${lxp + 27}" y="${lyp}" font-size="11">${esc(s.name)}</text>`,
    );
  });
  return out;
}

function servers<T extends { server: string }>(pts: T[]): string[] {
  return [...new Set(pts.map((p) => p.server))];
}

function label(server: string): string {
  return server === 'openssh' ? 'OpenSSH' : server;
}

export function curvesSvg(r: CurvesReport): string {
  const panels: Panel[] = [];
  const tp = r.throughput;
  panels.push({
    title: 'Concurrent sftp uploads',
    xLabel: 'uploading sessions (log)',
    yLabel: 'aggregate MiB/s',
    yRightLabel: "Jain's fairness index",
    xLog: true,
    yLog: false,
    xTicks: r.sizes.sessions,
    yRight: [0, 1],
    series: servers(tp).flatMap((sv) => [
      {
        name: `${label(sv)} MiB/s`,
        colour: COLOUR[sv] ?? '#000',
        points: tp.filter((p) => p.server === sv).map((p) => [p.sessions, p.aggregateMiBs]),
      },
      {
        name: `${label(sv)} Jain (right)`,
        colour: COLOUR[sv] ?? '#000',
        dash: '5 4',
        right: true,
        points: tp.filter((p) => p.server === sv).map((p) => [p.sessions, p.jain]),
      },
    ]),
  });
  const id = r.idle;
  panels.push({
    title: 'Server memory, idle SFTP sessions',
    xLabel: 'idle authenticated sessions (log)',
    yLabel: 'MiB',
    xLog: true,
    yLog: true,
    xTicks: r.sizes.idle,
    series: servers(id).flatMap((sv) => [
      {
        name: `${label(sv)} RSS`,
        colour: COLOUR[sv] ?? '#000',
        points: id.filter((p) => p.server === sv).map((p) => [p.sessions, p.rssMiB]),
      },
      {
        name: `${label(sv)} PSS`,
        colour: COLOUR[sv] ?? '#000',
        dash: '5 4',
        points: id.filter((p) => p.server === sv).map((p) => [p.sessions, p.pssMiB]),
      },
    ]),
  });
  const st = r.stat;
  // 0 background sessions cannot sit on a log axis: the x axis is linear in "uploads"
  panels.push({
    title: 'STAT latency while others upload',
    xLabel: 'concurrent uploading sessions',
    yLabel: 'ms per STAT (log)',
    xLog: false,
    yLog: true,
    xTicks: r.sizes.statBackground,
    series: servers(st).flatMap((sv) => [
      {
        name: `${label(sv)} median`,
        colour: COLOUR[sv] ?? '#000',
        points: st.filter((p) => p.server === sv).map((p) => [p.background, p.medianMs]),
      },
      {
        name: `${label(sv)} p99`,
        colour: COLOUR[sv] ?? '#000',
        dash: '5 4',
        points: st.filter((p) => p.server === sv).map((p) => [p.background, p.p99Ms]),
      },
      {
        name: `${label(sv)} worst`,
        colour: COLOUR[sv] ?? '#000',
        dash: '1 3',
        points: st.filter((p) => p.server === sv).map((p) => [p.background, p.maxMs]),
      },
    ]),
  });
  const sf = r.smallFiles;
  panels.push({
    title: '4 KiB files, one directory growing',
    xLabel: 'files in the directory (log)',
    yLabel: 'operations/s',
    xLog: true,
    yLog: false,
    xTicks: r.sizes.homeFiles,
    series: servers(sf).flatMap((sv) => [
      {
        name: `${label(sv)} uploads/s`,
        colour: COLOUR[sv] ?? '#000',
        points: sf.filter((p) => p.server === sv).map((p) => [p.files, p.putFilesPerSec]),
      },
      {
        name: `${label(sv)} STATs/s`,
        colour: COLOUR[sv] ?? '#000',
        dash: '5 4',
        points: sf.filter((p) => p.server === sv).map((p) => [p.files, p.statsPerSec]),
      },
    ]),
  });
  const pw = 460;
  const ph = 330;
  const head = 50;
  const W = pw * 2;
  const H = head + ph * 2;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">How cost grows: jailsftpd (blue) and OpenSSH sshd internal-sftp (red)</text>`,
    `<text x="10" y="38" fill="#555">${esc(
      `${r.date}, ${r.host.cpus} CPUs ${r.host.cpuModel}, load ${r.loadavgStart} -> ${r.loadavgEnd}` +
        (r.rt ? ', SCHED_RR (--rt)' : '') +
        (r.keepAwake ? ', vCPUs kept awake' : '') +
        (r.quick ? ', --quick (small sizes)' : ''),
    )}</text>`,
  ];
  panels.forEach((p, i) =>
    out.push(...panel(p, (i % 2) * pw, head + Math.floor(i / 2) * ph, pw, ph)),
  );
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export function writeCurves(dir: string, r: CurvesReport): { json: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'curves.json');
  const svg = join(dir, 'curves.svg');
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(svg, curvesSvg(r));
  return { json, svg };
}

// npm run bench: our server against OpenSSH's sshd (internal-sftp) on this machine, side by side,
// driven by the same real clients, alternating run by run. See bench/README.md.
//
//   npm run bench -- [--quick] [--runs N] [--size-mib N] [--workloads a,b] [--no-ref] [--curves]
import { randomFillSync } from 'node:crypto';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { keyPairFile } from '../test/helpers/keys.js';
import { tempDir } from '../test/helpers/proc.js';
import { startOurs, ROOT, SERVER_CLI } from './oursd.js';
import { refUnavailable, startRef } from './refsshd.js';
import { clusterUnavailable, startCluster, type ClusterTarget } from './cluster.js';
import { table, writeResults, type Report, type Row, type SideResult } from './report.js';
import { argon2Cost, idleSessions, loginsDuringTransfer, readFlood } from './specials.js';
import { CURVE_NAMES, curvesStep } from './curves.js';
import { KeepAwake } from './awake.js';
import type { Target } from './target.js';
import {
  cleanupDir,
  endedChildrenCpuSeconds,
  excludeFromMachineBusy,
  hostInfo,
  installCleanupHandlers,
  log,
  MachineSampler,
  median,
  ncpu,
  run,
  runCleanups,
  SETTLE_MS,
  settleRemovalsFor,
  TreeSampler,
  which,
} from './util.js';
import {
  clientWorkloads,
  GCM,
  sha256File,
  sftpWorkloads,
  ssh2Workloads,
  type Ctx,
  type Sizes,
  type Workload,
} from './workloads.js';

const USAGE = `usage: npm run bench -- [options]

  --quick            small sizes and 1 run: checks that everything works (about three minutes)
  --runs N           timed runs per workload and server, median reported (default 3; --quick 1)
  --size-mib N       size of the large file (default 1024; --quick 32)
  --workloads LIST   comma list of workloads; a name also selects its @gcm variant. Names:
                     session_setup upload_large download_large upload_small download_small ls_dir
                     concurrent_upload jailsftp_put jailsftp_get ssh2_fastput ssh2_fastget
                     ssh2_fastput_255k ssh2_fastget_255k idle_sessions argon2 logins read_flood
                     curves (= curves_throughput curves_idle curves_stat curves_smallfiles)
  --curves           only the curves (how cost grows with sessions, idle sessions, load, files):
                     bench/results/curves.json and curves.svg; with --quick, small sizes
  --no-ref           do not start OpenSSH's sshd; report our server alone
  --ops-ab           the reference is our own server with the audit log and metrics on (the
                     "OpenSSH" column): the ratio is what operations cost
  --cluster          ours = 3 nodes on PostgreSQL behind HAProxy, the reference = one node on the
                     file store (the "OpenSSH" column); default workloads upload_large,
                     concurrent_upload, logins; adds PostgreSQL transactions per GiB written
  --rt               run everything (servers, clients) at real-time priority SCHED_RR 10 (root):
                     on a shared machine other work then only gets what the benchmark leaves idle
  --keep-awake       one SCHED_IDLE busy loop per CPU so that no vCPU halts: on a VM whose host
                     is busy, each wake-up otherwise waits for the host (steal); see bench/README
  -h, --help         this help

Results: a table on stdout, bench/results/latest.json and bench/results/latest.svg; the curves in
bench/results/curves.json and curves.svg.`;

interface Options {
  quick: boolean;
  runs: number;
  sizeMiB: number;
  workloads?: string[];
  ref: boolean;
  rt: boolean;
  keepAwake: boolean;
  opsAb: boolean;
  cluster: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      runs: { type: 'string' },
      'size-mib': { type: 'string' },
      workloads: { type: 'string' },
      'no-ref': { type: 'boolean' },
      'ops-ab': { type: 'boolean' },
      cluster: { type: 'boolean' },
      curves: { type: 'boolean' },
      rt: { type: 'boolean' },
      'keep-awake': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const cluster = values.cluster ?? false;
  const int = (v: string | undefined, d: number, name: string): number => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  return {
    quick,
    runs: int(values.runs, quick ? 1 : 3, 'runs'),
    sizeMiB: int(values['size-mib'], quick ? 32 : 1024, 'size-mib'),
    workloads: (
      values.workloads ??
      (values.curves ? 'curves' : cluster ? 'upload_large,concurrent_upload,logins' : undefined)
    )
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    ref: !(values['no-ref'] ?? false),
    rt: values.rt ?? false,
    keepAwake: values['keep-awake'] ?? false,
    opsAb: values['ops-ab'] ?? false,
    cluster: values.cluster ?? false,
  };
}

function selected(o: Options, id: string): boolean {
  if (!o.workloads) return true;
  return o.workloads.some((w) => id === w || id.startsWith(`${w}@`));
}

function writeRandom(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  const buf = Buffer.alloc(1 << 20);
  for (let done = 0; done < bytes; done += buf.length) {
    randomFillSync(buf);
    writeSync(fd, buf, 0, Math.min(buf.length, bytes - done));
  }
  closeSync(fd);
}

interface Measured {
  secs: number;
  cpuSecs: number;
  /** CPU seconds of the clients the run started (they have all ended when it returns) */
  clientCpuSecs: number;
  peakRss: number;
  machinePct: number;
}

async function measure(t: Target, op: () => Promise<void>): Promise<Measured> {
  const sampler = new TreeSampler(t.pid, 50, t.cpu);
  const machine = new MachineSampler();
  const c0 = endedChildrenCpuSeconds();
  const t0 = performance.now();
  let secs = 0;
  let usage = { cpuSeconds: 0, peakRss: 0 };
  try {
    await op();
  } finally {
    secs = (performance.now() - t0) / 1000;
    usage = sampler.stop();
  }
  return {
    secs,
    cpuSecs: usage.cpuSeconds,
    clientCpuSecs: endedChildrenCpuSeconds() - c0,
    peakRss: usage.peakRss,
    machinePct: machine.stop(),
  };
}

async function runWorkload(w: Workload, targets: Target[], runs: number): Promise<Row> {
  const row: Row = { id: w.id, group: w.group, unit: w.unit, describe: w.describe };
  if (w.skip) {
    row.skipped = w.skip;
    log(`${w.id}: skipped: ${w.skip}`);
    return row;
  }
  const data = new Map<string, Measured[]>();
  const errors = new Map<string, string>();
  for (const t of targets) {
    data.set(t.name, []);
    try {
      await w.setup?.(t);
    } catch (e) {
      errors.set(t.name, `setup: ${(e as Error).message}`);
    }
  }
  const vs = w.versus;
  const against = new Map<string, Measured[]>(targets.map((t) => [t.name, []]));
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) {
      // with a `versus`, both run on this target, in alternating order (AB, BA, …)
      const steps = !vs ? [w] : i % 2 === 0 ? [w, vs] : [vs, w];
      for (const s of steps) {
        if (errors.has(t.name)) continue;
        try {
          await s.pre?.(t);
          const m = await measure(t, () => s.op(t));
          await s.verify?.(t);
          (s === w ? data : against).get(t.name)!.push(m);
          const rate = w.amount / m.secs;
          log(
            `${s.id} ${t.name} run ${i + 1}/${runs}: ${m.secs.toFixed(3)} s, ${rate.toFixed(1)} ${w.unit}, ` +
              `server CPU ${((m.cpuSecs / m.secs) * 100).toFixed(0)}% (${m.cpuSecs.toFixed(2)} s), ` +
              `client CPU ${m.clientCpuSecs.toFixed(2)} s, machine ${m.machinePct.toFixed(0)}%`,
          );
        } catch (e) {
          errors.set(t.name, `${s.id}: ${(e as Error).message}`);
          log(`${s.id} ${t.name} run ${i + 1}: FAILED: ${(e as Error).message}`);
        }
      }
    }
  }
  if (vs) {
    row.versus = {};
    for (const t of targets) {
      const a = data.get(t.name)!;
      const b = against.get(t.name)!;
      if (errors.has(t.name) || a.length === 0 || b.length === 0) continue;
      const secs = (ms: Measured[]): number => median(ms.map((m) => m.secs));
      const client = (ms: Measured[]): number => median(ms.map((m) => m.clientCpuSecs));
      const server = (ms: Measured[]): number => median(ms.map((m) => m.cpuSecs));
      row.versus[t.name] = {
        against: vs.describe,
        ratio: secs(b) / secs(a),
        runs: a.map((m) => Number(m.secs.toFixed(4))),
        againstRuns: b.map((m) => Number(m.secs.toFixed(4))),
        clientCpuSecs: client(a),
        againstClientCpuSecs: client(b),
        serverCpuSecs: server(a),
        againstServerCpuSecs: server(b),
      };
    }
    const v = row.versus.ours;
    if (v)
      row.note =
        `vs OpenSSH sftp on our server: ${v.ratio.toFixed(2)}x; ` +
        `client CPU ${v.clientCpuSecs.toFixed(2)}/${v.againstClientCpuSecs.toFixed(2)} s`;
  }
  for (const t of targets) {
    try {
      await w.teardown?.(t);
    } catch (e) {
      log(`${w.id} ${t.name}: teardown: ${(e as Error).message}`);
    }
    const ms = data.get(t.name)!;
    const err = errors.get(t.name);
    const secs = median(ms.map((m) => m.secs));
    const side: SideResult = {
      runs: ms.map((m) => Number(m.secs.toFixed(4))),
      medianSecs: secs,
      rate: w.amount / secs,
      cpuPct: median(ms.map((m) => (m.cpuSecs / m.secs) * 100)),
      cpuSecs: median(ms.map((m) => m.cpuSecs)),
      peakRss: Math.max(0, ...ms.map((m) => m.peakRss)),
      machinePct: median(ms.map((m) => m.machinePct)),
      ...(err ? { error: err } : {}),
    };
    if (t.name === 'ours') row.ours = side;
    else row.openssh = side;
  }
  if (row.ours && row.openssh && !row.ours.error && !row.openssh.error) {
    row.ratio = row.ours.rate / row.openssh.rate;
    if (row.openssh.cpuSecs > 0) row.cpuRatio = row.ours.cpuSecs / row.openssh.cpuSecs;
  }
  return row;
}

async function main(): Promise<number> {
  const o = options();
  for (const [what, ok] of [
    [`${SERVER_CLI} (run npm run build)`, existsSync(SERVER_CLI)],
    [`${join(ROOT, 'dist/bench/agent.js')}`, existsSync(join(ROOT, 'dist/bench/agent.js'))],
    ['the OpenSSH client sftp (apt-get install openssh-client)', which('sftp') !== undefined],
  ] as const) {
    if (!ok) throw new Error(`missing ${what}`);
  }
  installCleanupHandlers();
  // timed small-file runs wait out recent deletions (settleRemovals); --quick only checks
  settleRemovalsFor(o.quick ? 0 : SETTLE_MS);
  if (o.rt) {
    // every process started from here on (servers, sshd sessions, clients) inherits the policy
    const r = await run('chrt', ['-a', '-r', '-p', '10', String(process.pid)]);
    if (r.status !== 0) throw new Error(`--rt: chrt failed: ${r.stderr.trim()}`);
    log('running at SCHED_RR 10 (--rt)');
  }
  if (o.keepAwake) {
    const k = await KeepAwake.start();
    excludeFromMachineBusy(() => k.ticks());
    log(`keeping ${ncpu()} vCPUs awake: one SCHED_IDLE busy loop each (--keep-awake)`);
  }
  const sizes: Sizes = o.quick
    ? {
        largeMiB: o.sizeMiB,
        smallFiles: 200,
        dirEntries: 1000,
        concurrency: 4,
        concurrentMiB: 8,
        sessionsPerRun: 3,
      }
    : {
        largeMiB: o.sizeMiB,
        smallFiles: 2000,
        dirEntries: 10000,
        concurrency: 8,
        concurrentMiB: 64,
        sessionsPerRun: 10,
      };
  const special = o.quick
    ? { idle: 20, flood: 5000, floodHoldMs: 3000, argon2: 5, loginsMs: 3000, parallel: 8 }
    : { idle: 200, flood: 50000, floodHoldMs: 10000, argon2: 15, loginsMs: 10000, parallel: 8 };

  const loadStart = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  const machine = new MachineSampler();
  const work = tempDir('jailsftp-bench-');
  cleanupDir(work);
  log(`bench: work dir ${work}, load average ${loadStart}`);

  // one client key for both servers, made here
  const keyFile = join(work, 'bench_ed25519');
  keyPairFile(keyFile);

  // local test data: random, so compression cannot help
  const ctx: Ctx = {
    sizes,
    work,
    rdir: `bench.${process.pid}`,
    largeFile: join(work, 'large.bin'),
    largeSha: '',
    smallDir: join(work, 'small'),
    concFile: join(work, 'conc.bin'),
    knownHosts: join(work, 'known_hosts'),
  };
  // the curves alone need none of it
  const onlyCurves = o.workloads?.every((w) => w.startsWith('curves')) ?? false;
  if (!onlyCurves) {
    log(
      `creating test data (${sizes.largeMiB} MiB, ${sizes.smallFiles} x 4 KiB, ${sizes.concurrentMiB} MiB)`,
    );
    writeRandom(ctx.largeFile, sizes.largeMiB * 1048576);
    ctx.largeSha = await sha256File(ctx.largeFile);
    writeRandom(ctx.concFile, sizes.concurrentMiB * 1048576);
    mkdirSync(ctx.smallDir);
    for (let i = 0; i < sizes.smallFiles; i++)
      writeRandom(join(ctx.smallDir, `f${String(i).padStart(6, '0')}`), 4096);
  }

  const user = 'jsbench';
  const password = `bench-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const targets: Target[] = [];
  const single = await startOurs({ user, password, keyFile });
  let ours: Target = single;
  let refNote: string | undefined;
  let ref: Target | undefined;
  let cluster: ClusterTarget | undefined;
  if (o.cluster) {
    const why = clusterUnavailable();
    if (why) throw new Error(`--cluster: ${why}`);
    cluster = await startCluster({ user, password, keyFile, hostKeys: single.hostKeys, nodes: 3 });
    ours = cluster;
    ref = { ...single, name: 'single', stop: () => single.stop() };
    targets.push(cluster, ref);
    log(
      '--cluster: "ours" = 3 nodes on PostgreSQL behind HAProxy; the reference = one file-store node',
    );
  } else targets.push(single);
  if (o.cluster) {
    /* the reference is the single node */
  } else if (o.opsAb) {
    ref = {
      ...(await startOurs({ user, password, keyFile, hostKeys: single.hostKeys, ops: true })),
    };
    ref.name = 'ours+ops';
    targets.push(ref);
    log('reference: our server with --audit-log and --admin-listen (metrics) on');
  } else if (!o.ref) refNote = 'not started (--no-ref)';
  else {
    refNote = refUnavailable();
    if (!refNote) {
      try {
        ref = await startRef({ user, keyFile });
        targets.push(ref);
      } catch (e) {
        refNote = `could not start: ${(e as Error).message}`;
      }
    }
  }
  if (refNote) log(`OpenSSH reference ${refNote}: reporting our server alone`);
  for (const t of targets) {
    const d = join(t.startDir, ctx.rdir);
    mkdirSync(d, { recursive: true });
    chownSync(d, t.uid, t.gid);
  }

  const workloads = [
    ...sftpWorkloads(ctx),
    ...sftpWorkloads(ctx, GCM),
    ...clientWorkloads(ctx),
    ...ssh2Workloads(ctx),
  ]
    .filter((w) => selected(o, w.id))
    // the default-cipher and GCM variants of one workload next to each other
    .sort((a, b) => order(a.id) - order(b.id));
  // cluster: PostgreSQL transactions (each a round trip or more) during the cluster's uploads
  // (minus the background: heartbeats, listeners' checks, measured first while idle)
  const tx = { count: 0, bytes: 0, idlePerSec: 0, haproxySecs: 0, postgresSecs: 0 };
  const upload = workloads.find((w) => w.id === 'upload_large');
  if (cluster && upload) {
    const idleFrom = await cluster.transactions();
    await new Promise((r) => setTimeout(r, 10000));
    tx.idlePerSec = ((await cluster.transactions()) - idleFrom - 1) / 10;
    const op = upload.op.bind(upload);
    upload.op = async (t) => {
      if (t !== cluster) return op(t);
      const before = await cluster.transactions();
      const infra0 = cluster.infraSeconds();
      const t0 = performance.now();
      await op(t);
      const infra1 = cluster.infraSeconds();
      tx.haproxySecs += (infra1.haproxy ?? NaN) - (infra0.haproxy ?? NaN);
      tx.postgresSecs += (infra1.postgres ?? NaN) - (infra0.postgres ?? NaN);
      await new Promise((r) => setTimeout(r, 1500)); // statistics reach pg_stat_database within ~1 s
      const secs = (performance.now() - t0) / 1000;
      // minus the reading's own transaction and the background's
      tx.count += (await cluster.transactions()) - before - 1 - tx.idlePerSec * secs;
      tx.bytes += sizes.largeMiB * 1048576;
    };
  }
  const rows: Row[] = [];
  const failures: string[] = [];
  for (const w of workloads) {
    log(`=== ${w.id}: ${w.describe}`);
    const row = await runWorkload(w, targets, o.runs);
    for (const s of [row.ours, row.openssh]) if (s?.error) failures.push(`${w.id}: ${s.error}`);
    rows.push(row);
  }
  const report: Report = {
    date: new Date().toISOString(),
    host: hostInfo(),
    loadavgStart: loadStart,
    loadavgEnd: '',
    machineBusyPct: 0,
    options: { ...o, ...sizes, ...special },
    software: {
      ours: ours.software,
      ...(ref ? { openssh: ref.software } : {}),
      client: (await run('ssh', ['-V'])).stderr.trim(),
      node: process.version,
    },
    ...(refNote ? { reference: refNote } : {}),
    cpuAccounting: Object.fromEntries(
      targets.map((t) => [t.name, t.cpu ? 'cgroup' : '/proc sampling every 50 ms']),
    ),
    rows,
    failures,
  };

  const want = (n: string): boolean => !o.workloads || o.workloads.includes(n);
  const guard = async (name: string, fn: () => Promise<void>): Promise<void> => {
    if (!want(name)) return;
    log(`=== ${name}`);
    try {
      await fn();
    } catch (e) {
      failures.push(`${name}: ${(e as Error).message}`);
      log(`${name}: FAILED: ${(e as Error).message}`);
    }
  };
  /** fn on t; for ours on a fresh server, so that the heap of earlier workloads does not hide growth */
  const onFresh = async <R>(t: Target, fn: (f: Target) => Promise<R>): Promise<R> => {
    if (t.name !== 'ours') return fn(t);
    const f = await startOurs({ user, password, keyFile, hostKeys: single.hostKeys });
    try {
      return await fn(f);
    } finally {
      await f.stop();
    }
  };
  await guard('idle_sessions', async () => {
    const r: NonNullable<Report['idleSessions']> = {};
    for (const t of targets) {
      const x = await onFresh(t, (f) => idleSessions(f, special.idle));
      log(`${t.name}: ${x.sessions} idle sessions: ${(x.perSession / 1024).toFixed(0)} KiB each`);
      if (t.name === 'ours') r.ours = x;
      else r.openssh = x;
    }
    if (r.ours && r.openssh) {
      r.ratio = r.openssh.perSession / r.ours.perSession;
      r.ratioPss = r.openssh.perSessionPss / r.ours.perSessionPss;
    }
    report.idleSessions = r;
  });
  await guard('read_flood', async () => {
    const r: NonNullable<Report['readFlood']> = { limitBytes: 256 * 1024 * 1024 };
    for (const t of targets) {
      const x = await onFresh(t, (f) => {
        mkdirSync(join(f.startDir, ctx.rdir), { recursive: true });
        return readFlood(f, ctx, special.flood, special.floodHoldMs);
      });
      log(
        `${t.name}: READ flood: peak RSS ${(x.peakRss / 1048576).toFixed(0)} MiB, survived ${x.survived}`,
      );
      if (t.name === 'ours') r.ours = x;
      else r.openssh = x;
    }
    if (r.ours) r.pass = r.ours.peakRss < r.limitBytes && r.ours.survived;
    report.readFlood = r;
  });
  await guard('argon2', async () => {
    report.argon2 = await argon2Cost(special.argon2);
  });
  await guard('logins', async () => {
    report.logins = await loginsDuringTransfer(ours, ctx, special.loginsMs, special.parallel);
    if (cluster) {
      const one = await loginsDuringTransfer(single, ctx, special.loginsMs, special.parallel);
      report.cluster = { ...report.cluster, singleLogins: one };
    }
  });
  // the curves: ours and the OpenSSH reference only (not --cluster / --ops-ab)
  const wantCurve = (n: string): boolean => want(n) || want('curves');
  if (!cluster && !o.opsAb && CURVE_NAMES.some(wantCurve)) {
    try {
      const f = await curvesStep({
        env: {
          targets: targets.filter((t) => t.name === 'ours' || t.name === 'openssh'),
          fresh: onFresh,
          work,
          rdir: ctx.rdir,
        },
        quick: o.quick,
        rt: o.rt,
        keepAwake: o.keepAwake,
        want: wantCurve,
        software: report.software,
        ...(refNote ? { reference: refNote } : {}),
        resultsDir: join(ROOT, 'bench/results'),
      });
      failures.push(...f);
    } catch (e) {
      failures.push(`curves: ${(e as Error).message}`);
      log(`curves: FAILED: ${(e as Error).message}`);
    }
  }
  if (cluster) {
    const idlePerSec = tx.idlePerSec;
    report.cluster = {
      ...report.cluster,
      nodes: cluster.nodes.length,
      transactionsPerGiB: tx.bytes ? (tx.count / tx.bytes) * 2 ** 30 : undefined,
      idleTransactionsPerSec: idlePerSec,
      // CPU beside the nodes' (the bench's CPU column counts only the nodes)
      haproxyCpuSecsPerGiB: tx.bytes ? (tx.haproxySecs / tx.bytes) * 2 ** 30 : undefined,
      postgresCpuSecsPerGiB: tx.bytes ? (tx.postgresSecs / tx.bytes) * 2 ** 30 : undefined,
    };
    log(
      `cluster: PostgreSQL transactions per GiB uploaded ${report.cluster.transactionsPerGiB?.toFixed(0) ?? '-'}` +
        ` (beyond the background of ${idlePerSec.toFixed(1)}/s: heartbeats, listeners);` +
        ` CPU per GiB uploaded: HAProxy ${report.cluster.haproxyCpuSecsPerGiB?.toFixed(2) ?? '-'} s,` +
        ` PostgreSQL ${report.cluster.postgresCpuSecsPerGiB?.toFixed(2) ?? '-'} s`,
    );
  }

  report.loadavgEnd = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  report.machineBusyPct = Math.round(machine.stop());
  for (const t of new Set([...targets, single])) await t.stop();

  if (onlyCurves) {
    if (failures.length) console.log(`FAILURES:\n  ${failures.join('\n  ')}`);
    return failures.length ? 1 : 0;
  }
  const out = writeResults(join(ROOT, 'bench/results'), report);
  console.log(
    `# jailsftp bench ${report.date} ${report.host.name}: ${report.host.cpus} x ${report.host.cpuModel}, ` +
      `load ${report.loadavgStart} -> ${report.loadavgEnd}`,
  );
  console.log(`# ours: ${report.software.ours}; OpenSSH: ${report.software.openssh ?? refNote}`);
  console.log(
    `# runs ${o.runs} (median), large ${sizes.largeMiB} MiB, ${sizes.smallFiles} small files, ` +
      `${sizes.dirEntries} entries, ${sizes.concurrency} x ${sizes.concurrentMiB} MiB concurrent` +
      (o.rt ? ', SCHED_RR 10 (--rt)' : '') +
      (o.keepAwake ? ', vCPUs kept awake (--keep-awake)' : '') +
      (o.quick ? ' (--quick: not comparable to full runs)' : ''),
  );
  console.log(
    '# ratio = ours / OpenSSH (rate); CPU% = server process tree CPU / wall (100 = one core); ' +
      'CPU ratio = our server CPU seconds / OpenSSH for the same work',
  );
  console.log(table(report));
  if (failures.length) console.log(`\nFAILURES:\n  ${failures.join('\n  ')}`);
  console.log(`\nwrote ${out.json} and ${out.svg}`);
  return failures.length ? 1 : 0;
}

const ORDER = [
  'session_setup',
  'upload_large',
  'download_large',
  'upload_small',
  'download_small',
  'ls_dir',
  'concurrent_upload',
  'jailsftp_put',
  'jailsftp_get',
  'ssh2_fastput',
  'ssh2_fastget',
  'ssh2_fastput_255k',
  'ssh2_fastget_255k',
];
function order(id: string): number {
  const base = id.replace(/@.*/, '');
  return ORDER.indexOf(base) * 2 + (id.includes('@') ? 1 : 0);
}

main()
  .then((code) => {
    runCleanups();
    process.exit(code);
  })
  .catch((e: unknown) => {
    process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
    runCleanups();
    process.exit(2);
  });

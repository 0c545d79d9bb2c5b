// The agent's `ops` mode (bench/agent.ts), for the curves (bench/curves.ts): one SFTP session that
// runs small-request commands sent as JSON lines on stdin and answers each with one JSON line:
//   node dist/bench/agent.js ops '{"host","port","user","keyFile"}'
//   -> READY {"loginMs"}                     connect + authenticate + SFTP subsystem, in ms
//   {"op":"put","dir","prefix","count","parallel","size"}   uploads `count` files of `size` bytes
//        (OPEN, WRITE, CLOSE each), `parallel` at a time -> {"secs","files","errors"}
//   {"op":"stat","dir","prefix","digits","range","count","parallel"}   STATs `count` random names
//        prefix+zero-padded i (i < range), `parallel` in flight -> {"secs","count","errors"}
//   {"op":"statloop","path","durationMs"}   one STAT at a time for a while -> latencies in ms
// It exits when stdin closes.
import { randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import ssh2 from 'ssh2';

export interface OpsArgs {
  host: string;
  port: number;
  user: string;
  keyFile?: string;
}

export type OpsCommand =
  | { op: 'put'; dir: string; prefix: string; count: number; parallel: number; size: number }
  | {
      op: 'stat';
      dir: string;
      prefix: string;
      digits: number;
      range: number;
      count: number;
      parallel: number;
    }
  | { op: 'statloop'; path: string; durationMs: number };

export interface PutResult {
  secs: number;
  files: number;
  errors: number;
}
export interface StatResult {
  secs: number;
  count: number;
  errors: number;
}
export interface StatLoopResult {
  count: number;
  errors: number;
  meanMs: number;
  medianMs: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

type Sftp = ssh2.SFTPWrapper;

function connect(a: OpsArgs): Promise<{ c: ssh2.Client; sftp: Sftp }> {
  return new Promise((res, rej) => {
    const c = new ssh2.Client();
    c.on('error', rej);
    c.on('ready', () => c.sftp((err, sftp) => (err ? rej(err) : res({ c, sftp }))));
    c.connect({
      host: a.host,
      port: a.port,
      username: a.user,
      ...(a.keyFile ? { privateKey: readFileSync(a.keyFile) } : {}),
      readyTimeout: 120000,
    });
  });
}

function putOne(sftp: Sftp, path: string, data: Buffer): Promise<void> {
  return new Promise((res, rej) => {
    sftp.open(path, 'w', (err, h) => {
      if (err) return rej(err);
      sftp.write(h, data, 0, data.length, 0, (e1) => {
        sftp.close(h, (e2) => (e1 || e2 ? rej(e1 ?? e2) : res()));
      });
    });
  });
}

function statOne(sftp: Sftp, path: string): Promise<void> {
  return new Promise((res, rej) => sftp.stat(path, (err) => (err ? rej(err) : res())));
}

/** Runs fn(0..count-1) with `parallel` calls in flight; returns seconds and failures. */
async function pool(
  count: number,
  parallel: number,
  fn: (i: number) => Promise<void>,
): Promise<{ secs: number; errors: number }> {
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await fn(i).catch(() => errors++);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, worker));
  return { secs: (performance.now() - t0) / 1000, errors };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function runCommand(sftp: Sftp, cmd: OpsCommand): Promise<unknown> {
  if (cmd.op === 'put') {
    const data = randomFillSync(Buffer.alloc(cmd.size));
    const r = await pool(cmd.count, cmd.parallel, (i) =>
      putOne(sftp, `${cmd.dir}/${cmd.prefix}${i}`, data),
    );
    return { secs: r.secs, files: cmd.count - r.errors, errors: r.errors } satisfies PutResult;
  }
  if (cmd.op === 'stat') {
    const r = await pool(cmd.count, cmd.parallel, () => {
      const i = Math.floor(Math.random() * cmd.range);
      return statOne(sftp, `${cmd.dir}/${cmd.prefix}${String(i).padStart(cmd.digits, '0')}`);
    });
    return { secs: r.secs, count: cmd.count - r.errors, errors: r.errors } satisfies StatResult;
  }
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + cmd.durationMs;
  while (performance.now() < end) {
    const s = performance.now();
    try {
      await statOne(sftp, cmd.path);
      lat.push(performance.now() - s);
    } catch {
      errors++;
    }
  }
  lat.sort((x, y) => x - y);
  return {
    count: lat.length,
    errors,
    meanMs: lat.reduce((x, y) => x + y, 0) / (lat.length || 1),
    medianMs: quantile(lat, 0.5),
    p90Ms: quantile(lat, 0.9),
    p99Ms: quantile(lat, 0.99),
    maxMs: lat.length ? lat[lat.length - 1]! : NaN,
  } satisfies StatLoopResult;
}

export async function ops(a: OpsArgs): Promise<void> {
  const t0 = performance.now();
  const { c, sftp } = await connect(a);
  process.stdout.write(`READY ${JSON.stringify({ loginMs: performance.now() - t0 })}\n`);
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const r = await runCommand(sftp, JSON.parse(line) as OpsCommand);
    process.stdout.write(JSON.stringify(r) + '\n');
  }
  c.end();
  setTimeout(() => process.exit(0), 300).unref();
}

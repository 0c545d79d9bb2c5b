// CPU profile of our server during one large upload and one large download (OpenSSH sftp client),
// or with --small, during `put -r` / `get -r` of many 4 KiB files (the per-request cost), for
// tuning: node --cpu-prof on the server, then the functions with the most self time.
//
//   npm run build && node dist/bench/profile.js [--size-mib 1024] [--cipher C] [--top 25]
//   node dist/bench/profile.js --small [--files 2000] [--cipher C]
//
// The .cpuprofile files stay in bench/results/profiles/ (open them in Chrome DevTools or
// speedscope for a flame graph); a summary is printed.
import { randomFillSync } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { keyPairFile } from '../test/helpers/keys.js';
import { tempDir } from '../test/helpers/proc.js';
import { ROOT, startOurs } from './oursd.js';
import { cleanupDir, installCleanupHandlers, log, runCleanups } from './util.js';
import { sftp } from './workloads.js';

interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  samples: number[];
  timeDeltas: number[];
}

function where(url: string): string {
  if (!url) return '';
  if (url.includes('/node_modules/')) return url.slice(url.lastIndexOf('/node_modules/') + 14);
  if (url.startsWith('node:')) return url;
  const i = url.indexOf('/dist/');
  return i >= 0 ? url.slice(i + 6) : url;
}

function area(url: string, fn: string): string {
  if (fn.startsWith('(')) return fn;
  if (url.includes('/node_modules/ssh2/lib/protocol/crypto')) return 'ssh2 crypto (cipher/MAC)';
  if (url.includes('/node_modules/ssh2/')) return 'ssh2 (transport, channels)';
  if (url.includes('/node_modules/')) return 'other packages';
  if (url.includes('/dist/server/sftp/')) return 'ours: sftp engine/codec';
  if (url.includes('/dist/server/fs/')) return 'ours: storage';
  if (url.includes('/dist/server/')) return 'ours: other';
  if (url.startsWith('node:')) return 'node internals (streams, fs, net, buffers)';
  return url ? 'other' : 'native / builtin';
}

export function summarise(p: CpuProfile, top: number): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (id: number): string => {
    const f = byId.get(id)!.callFrame;
    return `${f.functionName || '(anonymous)'}  ${where(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
  };
  const callers = new Map<string, Map<string, number>>();
  const fns = new Map<string, number>();
  const areas = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const key = label(id);
    fns.set(key, (fns.get(key) ?? 0) + us);
    // the call path above it (two frames), to tell who is paying
    const up = parent.get(id);
    const up2 = up !== undefined ? parent.get(up) : undefined;
    const path = [up, up2]
      .filter((x): x is number => x !== undefined)
      .map(label)
      .join(' <- ');
    const m = callers.get(key) ?? new Map<string, number>();
    m.set(path, (m.get(path) ?? 0) + us);
    callers.set(key, m);
    const a = area(f.url, f.functionName);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  const pct = (us: number): string => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const busy = total - (areas.get('(idle)') ?? 0);
  const lines = [
    `profile: ${(total / 1e6).toFixed(2)} s sampled, main thread busy ${(busy / 1e6).toFixed(2)} s (${((busy / total) * 100).toFixed(0)}%)`,
    'by area (self time):',
    ...[...areas]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `  ${pct(v)}  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`),
    `top ${top} functions (self time):`,
    ...[...fns]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .flatMap(([k, v], i) => [
        `  ${pct(v)}  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`,
        ...(i < 8 && !k.startsWith('(')
          ? [...(callers.get(k) ?? [])]
              .sort((a, b) => b[1] - a[1])
              .slice(0, 2)
              .map(([c, us]) => `             ${(us / 1000).toFixed(0).padStart(6)} ms  <- ${c}`)
          : []),
      ]),
  ];
  return lines.join('\n');
}

/** CPU seconds per thread id of a process. */
function threadCpu(pid: number): Map<string, number> {
  const m = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      m.set(tid, (Number(f[11]) + Number(f[12])) / 100);
    } catch {
      /* gone */
    }
  }
  return m;
}

type What = 'upload' | 'download' | 'upload_small' | 'download_small';

async function profileOne(
  what: What,
  sizeMiB: number,
  cipher: string | undefined,
  work: string,
  keyFile: string,
  outDir: string,
  top: number,
): Promise<string> {
  const hostKeys = join(work, 'hostkeys');
  if (!existsSync(hostKeys)) {
    // a first start makes the host keys, so that key generation is not in the profiles
    const first = await startOurs({ user: 'jsbench', password: 'profile-password', keyFile });
    cpSync(first.hostKeys, hostKeys, { recursive: true });
    await first.stop();
  }
  const profDir = join(work, `prof-${what}`);
  mkdirSync(profDir);
  const t = await startOurs({
    user: 'jsbench',
    password: 'profile-password',
    keyFile,
    hostKeys,
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`],
  });
  const big = join(work, 'large.bin');
  const small = join(work, 'small');
  mkdirSync(join(t.startDir, 'p'), { recursive: true });
  if (what === 'download') copyFileSync(big, join(t.startDir, 'p/large.bin'));
  if (what === 'download_small') cpSync(small, join(t.startDir, 'p/small'), { recursive: true });
  const before = threadCpu(t.pid);
  const t0 = performance.now();
  if (what === 'upload') await sftp(t, `put ${big} p/large.bin\n`, cipher);
  else if (what === 'download')
    await sftp(t, `get p/large.bin ${join(work, 'large.dl')}\n`, cipher);
  else if (what === 'upload_small') await sftp(t, `put -r ${small} p\n`, cipher);
  else await sftp(t, `get -r p/small ${join(work, 'small.dl')}\n`, cipher);
  const secs = (performance.now() - t0) / 1000;
  const after = threadCpu(t.pid);
  const threads = [...after]
    .map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const)
    .filter(([, v]) => v >= 0.01)
    .sort((a, b) => b[1] - a[1]);
  const main = threads.find(([k]) => k === String(t.pid))?.[1] ?? 0;
  const others = threads.reduce((a, [k, v]) => a + (k === String(t.pid) ? 0 : v), 0);
  const cpuLine =
    `server CPU during the transfer (from /proc, not the profiler): main thread ${main.toFixed(2)} s ` +
    `(${((main / secs) * 100).toFixed(0)}% of wall), other threads (libuv pool, V8) ${others.toFixed(2)} s`;
  await t.stop();
  rmSync(join(work, 'large.dl'), { force: true });
  rmSync(join(work, 'small.dl'), { recursive: true, force: true });
  const f = readdirSync(profDir).find((x) => x.endsWith('.cpuprofile'));
  if (!f) throw new Error('the server wrote no .cpuprofile');
  const dest = join(outDir, `server-${what}.cpuprofile`);
  renameSync(join(profDir, f), dest);
  const p = JSON.parse(readFileSync(dest, 'utf8')) as CpuProfile;
  const amount = what.endsWith('_small') ? `${sizeMiB} files of 4 KiB` : `${sizeMiB} MiB`;
  const rate = what.endsWith('_small') ? 'files/s' : 'MiB/s';
  return `=== ${what} of ${amount} with OpenSSH sftp, ${cipher ?? 'default cipher'}: ${secs.toFixed(2)} s, ${(sizeMiB / secs).toFixed(1)} ${rate}\n${cpuLine}\n${summarise(p, top)}\nfull profile: ${dest}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'size-mib': { type: 'string', default: '1024' },
      cipher: { type: 'string' },
      top: { type: 'string', default: '25' },
      small: { type: 'boolean' },
      files: { type: 'string', default: '2000' },
    },
  });
  installCleanupHandlers();
  const smallRun = values.small ?? false;
  const size = smallRun ? 0 : Number(values['size-mib']);
  const files = Number(values.files);
  const work = tempDir('jailsftp-profile-');
  cleanupDir(work);
  const keyFile = join(work, 'key');
  keyPairFile(keyFile);
  const fd = openSync(join(work, 'large.bin'), 'w');
  const buf = Buffer.alloc(1 << 20);
  for (let i = 0; i < size; i++) writeSync(fd, randomFillSync(buf));
  closeSync(fd);
  if (smallRun) {
    mkdirSync(join(work, 'small'));
    const b = Buffer.alloc(4096);
    for (let i = 0; i < files; i++)
      writeFileSync(join(work, 'small', `f${String(i).padStart(5, '0')}`), randomFillSync(b));
  }
  const outDir = join(ROOT, 'bench/results/profiles');
  mkdirSync(outDir, { recursive: true });
  const whats: What[] = smallRun ? ['upload_small', 'download_small'] : ['upload', 'download'];
  for (const w of whats) {
    log(smallRun ? `profiling a ${w} of ${files} files` : `profiling a ${size} MiB ${w}`);
    const amount = smallRun ? files : size;
    console.log(
      await profileOne(w, amount, values.cipher, work, keyFile, outDir, Number(values.top)),
    );
  }
}

main()
  .then(() => runCleanups())
  .catch((e: unknown) => {
    process.stderr.write(`profile: ${(e as Error).stack ?? String(e)}\n`);
    runCleanups();
    process.exit(1);
  });

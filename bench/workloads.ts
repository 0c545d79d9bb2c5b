// The timed workloads. Each runs against one Target through a real client: OpenSSH's `sftp` in
// batch mode (a fresh connection per batch, default settings), our own client (dist/client/cli.js)
// or ssh2-sftp-client (in bench/agent.ts, a separate process). Remote paths are relative to the
// session's start directory; untimed preparation is done directly on the server's disk.
import { createHash } from 'node:crypto';
import {
  chownSync,
  copyFileSync,
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Target } from './target.js';
import type { Run } from '../test/helpers/proc.js';
import { retireTrees, run, settleRemovals } from './util.js';
import { ROOT } from './oursd.js';

export const GCM = 'aes128-gcm@openssh.com';
/** our client; BENCH_CLIENT_CLI names another build of it (A/B runs) */
export const CLIENT_CLI = process.env.BENCH_CLIENT_CLI ?? join(ROOT, 'dist/client/cli.js');
export const AGENT = join(ROOT, 'dist/bench/agent.js');

export interface Sizes {
  largeMiB: number;
  smallFiles: number;
  dirEntries: number;
  concurrency: number;
  concurrentMiB: number;
  sessionsPerRun: number;
}

export interface Ctx {
  sizes: Sizes;
  /** local scratch directory */
  work: string;
  /** remote scratch directory, relative to the start directory */
  rdir: string;
  largeFile: string;
  largeSha: string;
  smallDir: string;
  concFile: string;
  /** our client's known_hosts (JAILSFTP_KNOWN_HOSTS) */
  knownHosts: string;
}

export type Unit = 'MiB/s' | 'files/s' | 'entries/s' | 'sessions/s';

export interface Workload {
  id: string;
  group: string;
  unit: Unit;
  /** amount per run, in `unit` × seconds */
  amount: number;
  describe: string;
  /** why it cannot run (e.g. our client not built); it is then listed as skipped */
  skip?: string;
  setup?(t: Target): Promise<void>;
  pre?(t: Target): Promise<void>;
  op(t: Target): Promise<void>;
  verify?(t: Target): Promise<void>;
  teardown?(t: Target): Promise<void>;
  /**
   * Run alternately with this one on each server (same file, same place), and compared with it in
   * the note: our client against OpenSSH `sftp`. It shares this one's setup and teardown.
   */
  versus?: Workload;
}

// ---------------------------------------------------------------- helpers

export function sftpArgs(t: Target, cipher?: string): string[] {
  return [
    '-P',
    String(t.port),
    '-i',
    t.keyFile,
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'LogLevel=ERROR',
    ...(cipher ? ['-c', cipher] : []),
    '-b',
    '-',
    `${t.user}@${t.host}`,
  ];
}

function check(r: Run, what: string): Run {
  if (r.status !== 0) {
    const tail = (r.stderr + r.stdout).trim().split('\n').slice(-5).join('\n');
    throw new Error(`${what} failed (exit ${r.status}): ${tail}`);
  }
  return r;
}

export async function sftp(t: Target, batch: string, cipher?: string): Promise<Run> {
  return check(
    await run('sftp', sftpArgs(t, cipher), { input: batch }),
    `sftp (${batch.split('\n')[0]})`,
  );
}

/** Local path of a remote (relative) path. */
function local(t: Target, rel: string): string {
  return join(t.startDir, rel);
}

function own(t: Target, path: string): void {
  chownSync(path, t.uid, t.gid);
}

function rmRemote(t: Target, rel: string): void {
  rmSync(local(t, rel), { recursive: true, force: true });
}

function mkdirRemote(t: Target, rel: string): void {
  const p = local(t, rel);
  mkdirSync(p, { recursive: true });
  own(t, p);
}

function placeRemote(t: Target, src: string, rel: string): void {
  const p = local(t, rel);
  if (existsSync(p) && statSync(p).size === statSync(src).size) return;
  copyFileSync(src, p);
  own(t, p);
}

export function sha256File(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on('data', (d) => h.update(d))
      .on('error', rej)
      .on('end', () => res(h.digest('hex')));
  });
}

async function verifyLarge(ctx: Ctx, path: string): Promise<void> {
  const st = statSync(path);
  const want = ctx.sizes.largeMiB * 1048576;
  if (st.size !== want) throw new Error(`downloaded ${st.size} bytes, expected ${want}`);
  const h = await sha256File(path);
  rmSync(path, { force: true });
  if (h !== ctx.largeSha) throw new Error(`sha256 mismatch: ${h} != ${ctx.largeSha}`);
}

async function agent(mode: string, args: Record<string, unknown>): Promise<void> {
  const r = await run(process.execPath, [AGENT, mode, JSON.stringify(args)]);
  check(r, `ssh2 ${mode}`);
}

function target(t: Target): Record<string, unknown> {
  return { host: t.host, port: t.port, user: t.user, keyFile: t.keyFile };
}

// ---------------------------------------------------------------- the workloads

export function sftpWorkloads(ctx: Ctx, cipher?: string): Workload[] {
  const s = ctx.sizes;
  const R = ctx.rdir;
  const sfx = cipher ? '@gcm' : '';
  const label = cipher ? ` (${cipher})` : ' (default cipher)';
  const dl = join(ctx.work, 'large.dl');
  const smallDl = join(ctx.work, 'small.dl');
  const upRuns = new Map<string, number>();
  const upDir = (t: Target): string => `${R}/up-small${sfx}-${upRuns.get(t.name) ?? 0}`;
  let dlRuns = 0;
  const lsOut: Record<string, string> = {};
  return [
    {
      id: `session_setup${sfx}`,
      group: 'sftp',
      unit: 'sessions/s',
      amount: s.sessionsPerRun,
      describe: `${s.sessionsPerRun} sequential sftp sessions: connect, authenticate, pwd, quit${label}`,
      async op(t) {
        for (let i = 0; i < s.sessionsPerRun; i++) await sftp(t, 'pwd\n', cipher);
      },
    },
    {
      id: `upload_large${sfx}`,
      group: 'sftp',
      unit: 'MiB/s',
      amount: s.largeMiB,
      describe: `sftp put of one ${s.largeMiB} MiB file${label}`,
      async pre(t) {
        rmRemote(t, `${R}/large.bin`);
      },
      async op(t) {
        await sftp(t, `put ${ctx.largeFile} ${R}/large.bin\n`, cipher);
      },
      async verify(t) {
        const n = statSync(local(t, `${R}/large.bin`)).size;
        if (n !== s.largeMiB * 1048576) throw new Error(`server has ${n} bytes after put`);
      },
    },
    {
      id: `download_large${sfx}`,
      group: 'sftp',
      unit: 'MiB/s',
      amount: s.largeMiB,
      describe: `sftp get of one ${s.largeMiB} MiB file, sha256 checked${label}`,
      async setup(t) {
        placeRemote(t, ctx.largeFile, `${R}/large.bin`);
      },
      async pre() {
        rmSync(dl, { force: true });
      },
      async op(t) {
        await sftp(t, `get ${R}/large.bin ${dl}\n`, cipher);
      },
      async verify() {
        await verifyLarge(ctx, dl);
      },
    },
    {
      id: `upload_small${sfx}`,
      group: 'sftp',
      unit: 'files/s',
      amount: s.smallFiles,
      describe: `sftp put -r of ${s.smallFiles} files of 4 KiB${label}`,
      // each run into a new directory, all moved away at the end: nothing is deleted between or
      // just before timed runs (see settleRemovals)
      async setup() {
        await settleRemovals();
      },
      async pre(t) {
        upRuns.set(t.name, (upRuns.get(t.name) ?? 0) + 1);
        mkdirRemote(t, upDir(t));
      },
      async op(t) {
        await sftp(t, `put -r ${ctx.smallDir} ${upDir(t)}\n`, cipher);
      },
      async verify(t) {
        const n = readdirSync(local(t, `${upDir(t)}/small`)).length;
        if (n !== s.smallFiles) throw new Error(`server has ${n} files, expected ${s.smallFiles}`);
      },
      async teardown(t) {
        const n = upRuns.get(t.name) ?? 0;
        upRuns.delete(t.name);
        retireTrees(Array.from({ length: n }, (_, i) => local(t, `${R}/up-small${sfx}-${i + 1}`)));
      },
    },
    {
      id: `download_small${sfx}`,
      group: 'sftp',
      unit: 'files/s',
      amount: s.smallFiles,
      describe: `sftp get -r of ${s.smallFiles} files of 4 KiB, diff -r checked${label}`,
      async setup(t) {
        mkdirRemote(t, `${R}/small${sfx}`);
        for (const f of readdirSync(ctx.smallDir))
          placeRemote(t, join(ctx.smallDir, f), `${R}/small${sfx}/${f}`);
        await settleRemovals();
      },
      async pre() {
        dlRuns++;
      },
      async op(t) {
        await sftp(t, `get -r ${R}/small${sfx} ${smallDl}${sfx}-${dlRuns}\n`, cipher);
      },
      async verify() {
        const d = `${smallDl}${sfx}-${dlRuns}`;
        check(await run('diff', ['-rq', ctx.smallDir, d]), 'diff -r of the small files');
      },
      async teardown(t) {
        // the client's copies too: it makes 2000 files per run on the same file system
        const n = dlRuns;
        dlRuns = 0;
        retireTrees([
          local(t, `${R}/small${sfx}`),
          ...Array.from({ length: n }, (_, i) => `${smallDl}${sfx}-${i + 1}`),
        ]);
      },
    },
    {
      id: `ls_dir${sfx}`,
      group: 'sftp',
      unit: 'entries/s',
      amount: s.dirEntries,
      describe: `sftp ls -l of a directory of ${s.dirEntries} empty files${label}`,
      async setup(t) {
        rmRemote(t, `${R}/lsdir`);
        mkdirRemote(t, `${R}/lsdir`);
        for (let i = 1; i <= s.dirEntries; i++) {
          const p = local(t, `${R}/lsdir/e${String(i).padStart(6, '0')}`);
          writeFileSync(p, '');
          own(t, p);
        }
      },
      async op(t) {
        lsOut[t.name] = (await sftp(t, `ls -l ${R}/lsdir\n`, cipher)).stdout;
      },
      async verify(t) {
        const n = (lsOut[t.name] ?? '').split('\n').filter((l) => /e\d{6}$/.test(l)).length;
        if (n !== s.dirEntries)
          throw new Error(`ls -l listed ${n} entries, expected ${s.dirEntries}`);
      },
      async teardown(t) {
        retireTrees([local(t, `${R}/lsdir`)]);
      },
    },
    {
      id: `concurrent_upload${sfx}`,
      group: 'sftp',
      unit: 'MiB/s',
      amount: s.concurrency * s.concurrentMiB,
      describe: `${s.concurrency} sftp clients at once, each putting a ${s.concurrentMiB} MiB file${label}`,
      async pre(t) {
        for (let i = 1; i <= s.concurrency; i++) rmRemote(t, `${R}/conc${i}.bin`);
      },
      async op(t) {
        await Promise.all(
          Array.from({ length: s.concurrency }, (_, i) =>
            sftp(t, `put ${ctx.concFile} ${R}/conc${i + 1}.bin\n`, cipher),
          ),
        );
      },
      async verify(t) {
        for (let i = 1; i <= s.concurrency; i++) {
          const n = statSync(local(t, `${R}/conc${i}.bin`)).size;
          if (n !== s.concurrentMiB * 1048576) throw new Error(`conc${i}.bin has ${n} bytes`);
        }
      },
      async teardown(t) {
        for (let i = 1; i <= s.concurrency; i++) rmRemote(t, `${R}/conc${i}.bin`);
      },
    },
  ];
}

/** node options for our client, e.g. BENCH_CLIENT_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/p' */
const CLIENT_NODE_ARGS = (process.env.BENCH_CLIENT_NODE_ARGS ?? '').split(' ').filter(Boolean);

/**
 * 1 GiB put/get through our own client (jailsftp -b), each run alternately with OpenSSH `sftp`
 * doing the same put/get (same file, same remote path) on the same server: the note gives our
 * client / OpenSSH sftp, the client's target.
 */
export function clientWorkloads(ctx: Ctx): Workload[] {
  const s = ctx.sizes;
  const R = ctx.rdir;
  const dl = join(ctx.work, 'client.dl');
  const skip = existsSync(CLIENT_CLI)
    ? undefined
    : `our client is not built (${CLIENT_CLI} missing)`;
  const jailsftp = async (t: Target, batch: string): Promise<void> => {
    const f = join(ctx.work, 'client.batch');
    writeFileSync(f, batch);
    const r = await run(
      process.execPath,
      [
        ...CLIENT_NODE_ARGS,
        CLIENT_CLI,
        '-b',
        f,
        '-i',
        t.keyFile,
        '--yes',
        '-P',
        String(t.port),
        `${t.user}@${t.host}`,
      ],
      { env: { ...process.env, JAILSFTP_KNOWN_HOSTS: ctx.knownHosts } },
    );
    check(r, `jailsftp (${batch.trim()})`);
  };
  const putCheck = (t: Target): void => {
    const n = statSync(local(t, `${R}/client.bin`)).size;
    if (n !== s.largeMiB * 1048576) throw new Error(`server has ${n} bytes after put`);
  };
  const put = (client: string, op: (t: Target) => Promise<void>): Workload => ({
    id: `${client}_put`,
    group: 'client',
    unit: 'MiB/s',
    amount: s.largeMiB,
    describe: `${client === 'jailsftp' ? 'our client (jailsftp -b)' : 'OpenSSH sftp'}: put of one ${s.largeMiB} MiB file`,
    skip,
    async pre(t) {
      rmRemote(t, `${R}/client.bin`);
    },
    op,
    async verify(t) {
      putCheck(t);
    },
    async teardown(t) {
      rmRemote(t, `${R}/client.bin`);
    },
  });
  const get = (client: string, op: (t: Target) => Promise<void>): Workload => ({
    id: `${client}_get`,
    group: 'client',
    unit: 'MiB/s',
    amount: s.largeMiB,
    describe: `${client === 'jailsftp' ? 'our client (jailsftp -b)' : 'OpenSSH sftp'}: get of one ${s.largeMiB} MiB file${client === 'jailsftp' ? ', sha256 checked' : ''}`,
    skip,
    async setup(t) {
      placeRemote(t, ctx.largeFile, `${R}/large.bin`);
    },
    async pre() {
      rmSync(dl, { force: true });
    },
    op,
    async verify() {
      await verifyLarge(ctx, dl);
    },
  });
  return [
    {
      ...put('jailsftp', (t) => jailsftp(t, `put ${ctx.largeFile} ${R}/client.bin\n`)),
      versus: put('sftp', async (t) => {
        await sftp(t, `put ${ctx.largeFile} ${R}/client.bin\n`);
      }),
    },
    {
      ...get('jailsftp', (t) => jailsftp(t, `get ${R}/large.bin ${dl}\n`)),
      versus: get('sftp', async (t) => {
        await sftp(t, `get ${R}/large.bin ${dl}\n`);
      }),
    },
  ];
}

/** ssh2-sftp-client fastPut/fastGet, with its defaults and tuned (255 KiB chunks). */
export function ssh2Workloads(ctx: Ctx): Workload[] {
  const s = ctx.sizes;
  const R = ctx.rdir;
  const dl = join(ctx.work, 'ssh2.dl');
  const variants: { sfx: string; opts: Record<string, number>; what: string }[] = [
    { sfx: '', opts: {}, what: 'defaults (32 KiB chunks, 64 in flight)' },
    {
      sfx: '_255k',
      opts: { chunkSize: 255 * 1024, concurrency: 64 },
      what: 'chunkSize 255 KiB, 64 in flight',
    },
  ];
  return variants.flatMap((v) => [
    {
      id: `ssh2_fastput${v.sfx}`,
      group: 'ssh2',
      unit: 'MiB/s' as const,
      amount: s.largeMiB,
      describe: `ssh2-sftp-client fastPut of ${s.largeMiB} MiB, ${v.what}`,
      async pre(t: Target) {
        rmRemote(t, `${R}/ssh2.bin`);
      },
      async op(t: Target) {
        await agent('fastput', {
          ...target(t),
          ...v.opts,
          local: ctx.largeFile,
          remote: `${R}/ssh2.bin`,
        });
      },
      async verify(t: Target) {
        const n = statSync(local(t, `${R}/ssh2.bin`)).size;
        if (n !== s.largeMiB * 1048576) throw new Error(`server has ${n} bytes after fastPut`);
      },
      async teardown(t: Target) {
        rmRemote(t, `${R}/ssh2.bin`);
      },
    },
    {
      id: `ssh2_fastget${v.sfx}`,
      group: 'ssh2',
      unit: 'MiB/s' as const,
      amount: s.largeMiB,
      describe: `ssh2-sftp-client fastGet of ${s.largeMiB} MiB, ${v.what}, sha256 checked`,
      async setup(t: Target) {
        placeRemote(t, ctx.largeFile, `${R}/large.bin`);
      },
      async pre() {
        rmSync(dl, { force: true });
      },
      async op(t: Target) {
        await agent('fastget', { ...target(t), ...v.opts, local: dl, remote: `${R}/large.bin` });
      },
      async verify() {
        await verifyLarge(ctx, dl);
      },
    },
  ]);
}

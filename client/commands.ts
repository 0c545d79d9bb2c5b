// The ftp> command set: the original's commands and messages, plus what sftp and lftp users expect.
import { lstatSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Stats } from 'ssh2';
import type { Connection } from './connect.js';
import { CmdError, Interrupted, describe, sftpStatus } from './errors.js';
import { humanSize, isDirMode, lsLong, type LsEntry } from './format.js';
import {
  clientVersion,
  globLocal,
  isLocalDir,
  localSizeOrNull,
  resolveLocal,
  expandLocal,
} from './local.js';
import {
  basenameRemote,
  dirnameRemote,
  globRegExp,
  hasGlob,
  joinRemote,
  resolveRemote,
} from './paths.js';
import { Progress } from './progress.js';
import { askChoice, askConfirm } from './prompts.js';
import { remoteRangeSha256 } from './check-file.js';
import { streamHash, type StreamHash } from './hasher.js';
import type { Remote } from './remote.js';
import { download, upload } from './transfer.js';

export interface Ctx {
  conn: Connection;
  remote: Remote;
  /** remote working directory */
  cwd: string;
  /** the directory the session started in */
  home: string;
  /** --yes: resume without asking */
  yes: boolean;
  /** no questions (batch mode or no terminal) */
  batch: boolean;
  /** draw progress bars */
  tty: boolean;
  /** aborted by Ctrl-C during the running command */
  signal: AbortSignal;
  out: (line: string) => void;
  err: (line: string) => void;
}

export type ArgKind = 'remote' | 'local' | 'remote-dir' | 'local-dir' | 'command' | 'none';

export interface Command {
  names: string[];
  usage: string;
  help: string;
  /** what each positional argument names, for completion; the last one repeats */
  args: ArgKind[];
  run: (ctx: Ctx, args: string[]) => Promise<void | 'quit'>;
}

function flags(args: string[], allowed: string): { set: Set<string>; rest: string[] } {
  const set = new Set<string>();
  const rest: string[] = [];
  let done = false;
  for (const a of args) {
    if (!done && a === '--') done = true;
    else if (!done && /^-[a-zA-Z]+$/.test(a)) {
      for (const f of a.slice(1)) {
        if (!allowed.includes(f)) throw new CmdError(`unknown option -${f}`);
        set.add(f);
      }
    } else rest.push(a);
  }
  return { set, rest };
}

function need(args: string[], min: number, max: number, usage: string): void {
  if (args.length < min || args.length > max) throw new CmdError(`usage: ${usage}`);
}

function rpath(ctx: Ctx, p: string | undefined): string {
  return resolveRemote(ctx.cwd, p ?? '.', ctx.home).path;
}

/** Wraps a remote failure as "PATH: reason". */
async function onPath<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CmdError || err instanceof Interrupted) throw err;
    throw new CmdError(`${path}: ${describe(err)}`);
  }
}

async function globRemote(ctx: Ctx, pattern: string): Promise<string[]> {
  const full = rpath(ctx, pattern);
  if (!hasGlob(basenameRemote(full))) return [full];
  const dir = dirnameRemote(full);
  const re = globRegExp(basenameRemote(full));
  const list = await onPath(dir, () => ctx.remote.readdir(dir));
  const hits = list
    .map((e) => e.filename)
    .filter((n) => re.test(n) && (!n.startsWith('.') || basenameRemote(full).startsWith('.')))
    .sort()
    .map((n) => joinRemote(dir, n));
  if (hits.length === 0) throw new CmdError(`${pattern}: no match`);
  return hits;
}

function percent(part: number, whole: number): string {
  return `${whole > 0 ? Math.floor((part / whole) * 100) : 100}%`;
}

type Resume = 'resume' | 'overwrite' | 'skip';

async function askResume(ctx: Ctx, what: string, have: number, size: number): Promise<Resume> {
  const msg = `${what} is partial: ${humanSize(have)} of ${humanSize(size)} (${percent(have, size)}).`;
  if (ctx.batch || ctx.yes) {
    ctx.out(`${msg} Resuming.`);
    return 'resume';
  }
  return askChoice<Resume>(`${msg} What now?`, [
    { name: 'Resume from where it stopped', value: 'resume' },
    { name: 'Overwrite from the start', value: 'overwrite' },
    { name: 'Skip this file', value: 'skip' },
  ]);
}

/**
 * Compares the sha256 of the local file, computed during the transfer, with the server's
 * (`sha256sum` over exec; a jailsftp server remembers the digest of a file it just received in
 * sequence). `remote` is the server's answer, asked after CLOSE (put) or during the transfer (get).
 */
async function verifyAfter(
  ctx: Ctx,
  local: StreamHash,
  remote: Promise<string | null>,
): Promise<'ok' | 'unverified' | 'mismatch'> {
  const [rh, lh] = await Promise.all([remote, local.digest()]);
  if (ctx.signal.aborted) throw new Interrupted();
  if (rh === null) return 'unverified';
  return rh === lh ? 'ok' : 'mismatch';
}

const VERIFY_NOTE = {
  ok: 'sha256 verified',
  unverified: 'could not verify (the server offers no sha256sum)',
  mismatch: '',
};

async function quotaMessage(ctx: Ctx, dir: string, needed?: number): Promise<CmdError> {
  const space = await ctx.remote.diskSpace(dir).catch(() => null);
  const free = space ? `${humanSize(space.free)} free` : 'no space left';
  const want = needed !== undefined ? `, ${humanSize(needed)} needed` : '';
  return new CmdError(`not enough quota! ${free}${want}`, true);
}

/** The words of a resume check: which side holds the partial file, and what to say. */
interface PrefixWords {
  part: 'remote' | 'local';
  partial: string;
  other: string;
  /** what the server lacks when the part cannot be checked */
  lacking: string;
  again: [ask: string, doing: string];
  skipped: string;
}

/**
 * Before a resume: compares the hash of the partial file (`otherHash`, null when it cannot be
 * had) with the local prefix, hashed into `hash`. Returns where to start (0 = the whole file again)
 * or 'skip' when the user declines.
 */
async function checkPrefix(
  ctx: Ctx,
  localPath: string,
  start: number,
  size: number,
  hash: StreamHash,
  otherHash: Promise<string | null>,
  w: PrefixWords,
): Promise<number | 'skip'> {
  const [rh, prefix] = await Promise.all([
    otherHash,
    onPath(localPath, () => hash.prefix(localPath, start, ctx.signal)).catch((err) => {
      if (ctx.signal.aborted) throw new Interrupted();
      throw err;
    }),
  ]);
  if (ctx.signal.aborted) throw new Interrupted();
  if (rh === null) {
    ctx.out(
      `could not verify the ${w.part} part (the server offers no ${w.lacking}); resuming anyway`,
    );
    return start;
  }
  if (rh !== prefix) {
    ctx.err(`the ${w.part} part of ${w.partial} does not match ${w.other}`);
    if (!ctx.batch && !(await askConfirm(`${w.again[0]} the whole file again?`, true)))
      return 'skip';
    ctx.out(`${w.again[1]} the whole file again`);
    return 0;
  }
  ctx.out(`the ${w.part} part (${humanSize(start)}) matches; resuming at ${percent(start, size)}`);
  return start;
}

/** put / reput of one local file. */
async function putFile(
  ctx: Ctx,
  localPath: string,
  target: string,
  mode: 'put' | 'reput' | 'overwrite',
): Promise<void> {
  const lst = await onPath(localPath, async () => statSync(localPath));
  if (lst.isDirectory()) throw new CmdError(`${localPath}: is a directory (use put -r)`);
  if (!lst.isFile()) throw new CmdError(`${localPath}: not a regular file`);
  const size = lst.size;
  let remotePath = target;
  let rst: Stats | null = await onPath(remotePath, () => ctx.remote.statOrNull(remotePath));
  if (rst && isDirMode(rst.mode)) {
    remotePath = joinRemote(remotePath, basename(localPath));
    rst = await onPath(remotePath, () => ctx.remote.statOrNull(remotePath));
  }
  let start = 0;
  if (mode === 'reput' && rst) {
    if (rst.size > size)
      throw new CmdError(
        `${remotePath}: the remote file is larger than ${localPath}; nothing to resume`,
      );
    start = rst.size;
  } else if (mode === 'put' && rst && rst.size > 0 && rst.size < size) {
    const choice = await askResume(ctx, remotePath, rst.size, size);
    if (choice === 'skip') return ctx.out(`skipped ${localPath}`);
    if (choice === 'resume') start = rst.size;
  }
  // the whole local file is hashed: the prefix that is not sent here, the rest while it is sent
  let hash = streamHash(size, ctx.remote.serverIsLocal());
  try {
    if (start > 0) {
      const checked = await checkPrefix(
        ctx,
        localPath,
        start,
        size,
        hash,
        ctx.remote.remoteSha256(remotePath, ctx.signal),
        {
          part: 'remote',
          partial: remotePath,
          other: localPath,
          lacking: 'sha256sum',
          again: ['Send', 'sending'],
          skipped: localPath,
        },
      );
      if (checked === 'skip') return ctx.out(`skipped ${localPath}`);
      start = checked;
      if (start === 0) {
        hash.dispose();
        hash = streamHash(size, ctx.remote.serverIsLocal());
      }
    }
    const dir = dirnameRemote(remotePath);
    const needed = size - (rst?.size ?? 0);
    const space = await ctx.remote.diskSpace(dir).catch(() => null);
    if (space && needed > space.free) throw await quotaMessage(ctx, dir, needed);

    const bar = new Progress(`File sending: ${basename(localPath)}`, size, start, ctx.tty);
    let done = start;
    try {
      await upload({
        remote: ctx.remote,
        localPath,
        remotePath,
        start,
        size,
        signal: ctx.signal,
        onProgress: (d) => bar.update((done = d)),
        hash,
      });
    } catch (err) {
      bar.stop(done);
      if (err instanceof Interrupted) {
        ctx.out(
          `interrupted at ${percent(done, size)}: ${remotePath} is partial; put or reput resumes it`,
        );
        throw err;
      }
      if (/quota/i.test(describe(err))) throw await quotaMessage(ctx, dir);
      throw new CmdError(`${remotePath}: ${describe(err)}`);
    }
    const stats = bar.stop(size);
    // the remote file is closed: a jailsftp server answers from the digest it computed on the way in
    const v = await verifyAfter(ctx, hash, ctx.remote.remoteSha256(remotePath, ctx.signal));
    if (v === 'mismatch') {
      ctx.err(`sha256 mismatch: ${remotePath} differs from ${localPath}`);
      if (!ctx.batch && (await askConfirm('Send it again?', true)))
        return putFile(ctx, localPath, remotePath, 'overwrite');
      throw new CmdError(`${remotePath}: verification failed`);
    }
    ctx.out(`${localPath} -> ${remotePath}: ${stats}, ${VERIFY_NOTE[v]}`);
  } finally {
    hash.dispose();
  }
}

/** get / reget of one remote file. */
async function getFile(
  ctx: Ctx,
  remotePath: string,
  target: string,
  mode: 'get' | 'reget' | 'overwrite',
): Promise<void> {
  const rst = await onPath(remotePath, () => ctx.remote.stat(remotePath));
  if (isDirMode(rst.mode)) throw new CmdError(`${remotePath}: is a directory (use get -r)`);
  const size = rst.size;
  const localPath = isLocalDir(target) ? join(target, basenameRemote(remotePath)) : target;
  const have = localSizeOrNull(localPath);
  let start = 0;
  if (mode === 'reget' && have !== null) {
    if (have > size)
      throw new CmdError(
        `${localPath}: the local file is larger than ${remotePath}; nothing to resume`,
      );
    start = have;
  } else if (mode === 'get' && have !== null && have > 0 && have < size) {
    const choice = await askResume(ctx, localPath, have, size);
    if (choice === 'skip') return ctx.out(`skipped ${remotePath}`);
    if (choice === 'resume') start = have;
  }
  // the whole local file is hashed: the prefix already on disk, the rest while it is written
  let hash = streamHash(size, ctx.remote.serverIsLocal());
  try {
    if (start > 0) {
      const checked = await checkPrefix(
        ctx,
        localPath,
        start,
        size,
        hash,
        ctx.remote.hasExt('check-file-name')
          ? remoteRangeSha256(ctx.remote.ssh, remotePath, 0, start, { signal: ctx.signal })
          : Promise.resolve(null),
        {
          part: 'local',
          partial: localPath,
          other: remotePath,
          lacking: 'check-file-name',
          again: ['Fetch', 'fetching'],
          skipped: remotePath,
        },
      );
      if (checked === 'skip') return ctx.out(`skipped ${remotePath}`);
      start = checked;
      if (start === 0) {
        hash.dispose();
        hash = streamHash(size, ctx.remote.serverIsLocal());
      }
    }
    const bar = new Progress(`File receiving: ${basenameRemote(remotePath)}`, size, start, ctx.tty);
    let done = start;
    // the remote file is complete: the server hashes it while it is downloaded
    const asking = new AbortController();
    const remoteHash = ctx.remote.remoteSha256(
      remotePath,
      AbortSignal.any([ctx.signal, asking.signal]),
    );
    try {
      await download({
        remote: ctx.remote,
        localPath,
        remotePath,
        start,
        size,
        signal: ctx.signal,
        onProgress: (d) => bar.update((done = d)),
        hash,
      });
    } catch (err) {
      asking.abort();
      bar.stop(done);
      if (err instanceof Interrupted) {
        ctx.out(
          `interrupted at ${percent(done, size)}: ${localPath} is partial; get or reget resumes it`,
        );
        throw err;
      }
      throw new CmdError(`${remotePath}: ${describe(err)}`);
    }
    const stats = bar.stop(size);
    const v = await verifyAfter(ctx, hash, remoteHash);
    if (v === 'mismatch') {
      ctx.err(`sha256 mismatch: ${localPath} differs from ${remotePath}`);
      if (!ctx.batch && (await askConfirm('Fetch it again?', true)))
        return getFile(ctx, remotePath, localPath, 'overwrite');
      throw new CmdError(`${localPath}: verification failed`);
    }
    ctx.out(`${remotePath} -> ${localPath}: ${stats}, ${VERIFY_NOTE[v]}`);
  } finally {
    hash.dispose();
  }
}

async function putTree(ctx: Ctx, localDir: string, remoteDir: string): Promise<void> {
  const rst = await ctx.remote.statOrNull(remoteDir);
  if (!rst) await onPath(remoteDir, () => ctx.remote.mkdir(remoteDir));
  else if (!isDirMode(rst.mode)) throw new CmdError(`${remoteDir}: not a directory`);
  for (const name of readdirSync(localDir).sort()) {
    if (ctx.signal.aborted) throw new Interrupted();
    const lp = join(localDir, name);
    const st = lstatSync(lp);
    if (st.isDirectory()) await putTree(ctx, lp, joinRemote(remoteDir, name));
    else if (st.isFile()) await putFile(ctx, lp, joinRemote(remoteDir, name), 'put');
    else ctx.err(`skipping ${lp}: not a regular file`);
  }
}

async function getTree(ctx: Ctx, remoteDir: string, localDir: string): Promise<void> {
  mkdirSync(localDir, { recursive: true });
  const list = await onPath(remoteDir, () => ctx.remote.readdir(remoteDir));
  for (const e of list.sort((a, b) => a.filename.localeCompare(b.filename))) {
    if (ctx.signal.aborted) throw new Interrupted();
    if (e.filename === '.' || e.filename === '..') continue;
    const rp = joinRemote(remoteDir, e.filename);
    if (isDirMode(e.attrs.mode)) await getTree(ctx, rp, join(localDir, e.filename));
    else if ((e.attrs.mode & 0o170000) === 0o100000)
      await getFile(ctx, rp, join(localDir, e.filename), 'get');
    else ctx.err(`skipping ${rp}: not a regular file`);
  }
}

async function putCmd(
  ctx: Ctx,
  argv: string[],
  mode: 'put' | 'reput',
  usage: string,
): Promise<void> {
  const { set, rest } = flags(argv, 'r');
  need(rest, 1, 2, usage);
  const sources = globLocal(rest[0]!);
  const dest = rpath(ctx, rest[1]);
  const dst = await ctx.remote.statOrNull(dest).catch(() => null);
  const destIsDir = dst !== null && isDirMode(dst.mode);
  if (sources.length > 1 && !destIsDir) throw new CmdError(`${dest}: not a directory`);
  for (const src of sources) {
    if (isLocalDir(src)) {
      if (!set.has('r')) throw new CmdError(`${src}: is a directory (use put -r)`);
      await putTree(ctx, src, destIsDir ? joinRemote(dest, basename(src)) : dest);
    } else await putFile(ctx, src, dest, mode);
  }
}

async function getCmd(
  ctx: Ctx,
  argv: string[],
  mode: 'get' | 'reget',
  usage: string,
): Promise<void> {
  const { set, rest } = flags(argv, 'r');
  need(rest, 1, 2, usage);
  const sources = await globRemote(ctx, rest[0]!);
  const dest = resolveLocal(rest[1] ?? '.');
  if (sources.length > 1 && !isLocalDir(dest)) throw new CmdError(`${dest}: not a directory`);
  for (const src of sources) {
    const st = await onPath(src, () => ctx.remote.stat(src));
    if (isDirMode(st.mode)) {
      if (!set.has('r')) throw new CmdError(`${src}: is a directory (use get -r)`);
      await getTree(ctx, src, isLocalDir(dest) ? join(dest, basenameRemote(src)) : dest);
    } else await getFile(ctx, src, dest, mode);
  }
}

function entryOf(name: string, st: { mode: number; size: number; mtime: number }): LsEntry {
  return { name, mode: st.mode, size: st.size, mtime: st.mtime };
}

async function lsCmd(ctx: Ctx, argv: string[], forceLong: boolean): Promise<void> {
  const { set, rest } = flags(argv, 'la1');
  need(rest, 0, 1, 'ls [-l] [-a] [PATH]');
  const long = forceLong || set.has('l');
  const target = rpath(ctx, rest[0]);
  let entries: LsEntry[];
  const last = basenameRemote(target);
  if (hasGlob(last)) {
    const dir = dirnameRemote(target);
    const re = globRegExp(last);
    const list = await onPath(dir, () => ctx.remote.readdir(dir));
    entries = list.filter((e) => re.test(e.filename)).map((e) => entryOf(e.filename, e.attrs));
  } else {
    const st = await onPath(target, () => ctx.remote.stat(target));
    if (!isDirMode(st.mode)) entries = [entryOf(rest[0] ?? last, st)];
    else {
      const list = await onPath(target, () => ctx.remote.readdir(target));
      entries = list
        .filter((e) => e.filename !== '.' && e.filename !== '..')
        .filter((e) => set.has('a') || !e.filename.startsWith('.'))
        .map((e) => entryOf(e.filename, e.attrs));
    }
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (entries.length === 0) return ctx.out('Command return empty!');
  for (const line of long ? lsLong(entries) : entries.map((e) => e.name)) ctx.out(line);
}

async function llsCmd(ctx: Ctx, argv: string[]): Promise<void> {
  const { set, rest } = flags(argv, 'la1');
  need(rest, 0, 1, 'lls [-l] [-a] [PATH]');
  const target = resolveLocal(rest[0] ?? '.');
  const st = await onPath(target, async () => statSync(target));
  const toEntry = (name: string, s: { mode: number; size: number; mtimeMs: number }): LsEntry => ({
    name,
    mode: s.mode,
    size: s.size,
    mtime: Math.floor(s.mtimeMs / 1000),
  });
  let entries: LsEntry[];
  if (!st.isDirectory()) entries = [toEntry(rest[0]!, st)];
  else
    entries = readdirSync(target)
      .filter((n) => set.has('a') || !n.startsWith('.'))
      .map((n) => {
        try {
          return toEntry(n, lstatSync(join(target, n)));
        } catch {
          return toEntry(n, { mode: 0, size: 0, mtimeMs: 0 });
        }
      });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (entries.length === 0) return ctx.out('Command return empty!');
  for (const line of set.has('l') ? lsLong(entries) : entries.map((e) => e.name)) ctx.out(line);
}

export const COMMANDS: Command[] = [
  {
    names: ['ls'],
    usage: 'ls [-l] [-a] [PATH]',
    help: 'list a remote directory (-l: long format, -a: show hidden files)',
    args: ['remote'],
    run: (ctx, a) => lsCmd(ctx, a, false),
  },
  {
    names: ['dir'],
    usage: 'dir [PATH]',
    help: 'list a remote directory in long format',
    args: ['remote'],
    run: (ctx, a) => lsCmd(ctx, a, true),
  },
  {
    names: ['cd'],
    usage: 'cd [PATH]',
    help: 'change the remote directory (no PATH: back to the start directory)',
    args: ['remote-dir'],
    run: async (ctx, a) => {
      need(a, 0, 1, 'cd [PATH]');
      const r = resolveRemote(ctx.cwd, a[0] ?? ctx.home, ctx.home);
      if (r.escaped) throw new CmdError('Permission denied!', true);
      const st = await onPath(r.path, () => ctx.remote.stat(r.path));
      if (!isDirMode(st.mode)) throw new CmdError(`${r.path}: Not a directory`);
      ctx.cwd = r.path;
      ctx.out(r.path);
    },
  },
  {
    names: ['pwd'],
    usage: 'pwd',
    help: 'show the remote directory',
    args: [],
    run: async (ctx, a) => {
      need(a, 0, 0, 'pwd');
      ctx.out(ctx.cwd);
    },
  },
  {
    names: ['mkdir'],
    usage: 'mkdir PATH...',
    help: 'make remote directories',
    args: ['remote'],
    run: async (ctx, a) => {
      need(a, 1, Infinity, 'mkdir PATH...');
      for (const p of a) {
        const path = rpath(ctx, p);
        await onPath(path, async () => {
          try {
            await ctx.remote.mkdir(path);
          } catch (err) {
            const st = await ctx.remote.statOrNull(path).catch(() => null);
            if (st) throw new CmdError(`${path}: File exists`);
            throw err;
          }
        });
      }
    },
  },
  {
    names: ['rmdir'],
    usage: 'rmdir PATH...',
    help: 'remove empty remote directories',
    args: ['remote-dir'],
    run: async (ctx, a) => {
      need(a, 1, Infinity, 'rmdir PATH...');
      for (const p of a) {
        const path = rpath(ctx, p);
        await onPath(path, async () => {
          try {
            await ctx.remote.rmdir(path);
          } catch (err) {
            if (sftpStatus(err) === 4) {
              const list = await ctx.remote.readdir(path).catch(() => null);
              if (list && list.some((e) => e.filename !== '.' && e.filename !== '..'))
                throw new CmdError(`${path}: Directory not empty`);
            }
            throw err;
          }
        });
      }
    },
  },
  {
    names: ['rm', 'delete'],
    usage: 'rm PATH...',
    help: 'remove remote files (globs allowed)',
    args: ['remote'],
    run: async (ctx, a) => {
      need(a, 1, Infinity, 'rm PATH...');
      for (const pattern of a)
        for (const path of await globRemote(ctx, pattern)) {
          await onPath(path, async () => {
            const st = await ctx.remote.lstat(path);
            if (isDirMode(st.mode)) throw new CmdError(`${path}: is a directory (use rmdir)`);
            await ctx.remote.unlink(path);
          });
        }
    },
  },
  {
    names: ['rename', 'mv'],
    usage: 'rename OLD NEW',
    help: 'rename or move a remote file or directory (replaces NEW)',
    args: ['remote', 'remote'],
    run: async (ctx, a) => {
      need(a, 2, 2, 'rename OLD NEW');
      const from = rpath(ctx, a[0]);
      let to = rpath(ctx, a[1]);
      const st = await ctx.remote.statOrNull(to).catch(() => null);
      if (st && isDirMode(st.mode)) to = joinRemote(to, basenameRemote(from));
      await onPath(from, () => ctx.remote.rename(from, to));
    },
  },
  {
    names: ['chmod'],
    usage: 'chmod MODE PATH...',
    help: 'change permissions of remote files (octal MODE, e.g. 644)',
    args: ['none', 'remote'],
    run: async (ctx, a) => {
      need(a, 2, Infinity, 'chmod MODE PATH...');
      if (!/^[0-7]{1,4}$/.test(a[0]!))
        throw new CmdError(`invalid mode ${a[0]} (use octal, e.g. 644)`);
      const mode = parseInt(a[0]!, 8);
      for (const pattern of a.slice(1))
        for (const path of await globRemote(ctx, pattern))
          await onPath(path, () => ctx.remote.chmod(path, mode));
    },
  },
  {
    names: ['df'],
    usage: 'df',
    help: 'show the quota (or disk) size and the free space',
    args: [],
    run: async (ctx, a) => {
      need(a, 0, 0, 'df');
      const s = await onPath(ctx.cwd, () => ctx.remote.diskSpace(ctx.cwd));
      if (!s) throw new CmdError('the server does not report disk space');
      const used = s.total - s.free;
      const cols = [humanSize(s.total), humanSize(used), humanSize(s.free), percent(used, s.total)];
      ctx.out(
        `${'Size'.padStart(10)}${'Used'.padStart(10)}${'Avail'.padStart(10)}${'Use%'.padStart(6)}`,
      );
      ctx.out(
        `${cols[0]!.padStart(10)}${cols[1]!.padStart(10)}${cols[2]!.padStart(10)}${cols[3]!.padStart(6)}`,
      );
    },
  },
  {
    names: ['put'],
    usage: 'put [-r] LOCAL [REMOTE]',
    help: 'upload a file (-r: a directory); a partial remote file can be resumed',
    args: ['local', 'remote'],
    run: (ctx, a) => putCmd(ctx, a, 'put', 'put [-r] LOCAL [REMOTE]'),
  },
  {
    names: ['reput'],
    usage: 'reput LOCAL [REMOTE]',
    help: 'resume an upload, after checking the remote part',
    args: ['local', 'remote'],
    run: (ctx, a) => putCmd(ctx, a, 'reput', 'reput LOCAL [REMOTE]'),
  },
  {
    names: ['mput'],
    usage: 'mput PATTERN...',
    help: 'upload files matching local globs into the remote directory',
    args: ['local'],
    run: async (ctx, a) => {
      need(a, 1, Infinity, 'mput PATTERN...');
      for (const pattern of a)
        for (const src of globLocal(pattern)) {
          if (isLocalDir(src)) ctx.err(`skipping ${src}: is a directory`);
          else await putFile(ctx, src, ctx.cwd, 'put');
        }
    },
  },
  {
    names: ['get'],
    usage: 'get [-r] REMOTE [LOCAL]',
    help: 'download a file (-r: a directory); a partial local file can be resumed',
    args: ['remote', 'local'],
    run: (ctx, a) => getCmd(ctx, a, 'get', 'get [-r] REMOTE [LOCAL]'),
  },
  {
    names: ['reget'],
    usage: 'reget REMOTE [LOCAL]',
    help: 'resume a download',
    args: ['remote', 'local'],
    run: (ctx, a) => getCmd(ctx, a, 'reget', 'reget REMOTE [LOCAL]'),
  },
  {
    names: ['mget'],
    usage: 'mget PATTERN...',
    help: 'download files matching remote globs into the local directory',
    args: ['remote'],
    run: async (ctx, a) => {
      need(a, 1, Infinity, 'mget PATTERN...');
      for (const pattern of a)
        for (const src of await globRemote(ctx, pattern)) {
          const st = await onPath(src, () => ctx.remote.stat(src));
          if (isDirMode(st.mode)) ctx.err(`skipping ${src}: is a directory`);
          else await getFile(ctx, src, process.cwd(), 'get');
        }
    },
  },
  {
    names: ['lcd'],
    usage: 'lcd [PATH]',
    help: 'change the local directory',
    args: ['local-dir'],
    run: async (ctx, a) => {
      need(a, 0, 1, 'lcd [PATH]');
      const target = resolveLocal(a[0] ?? '~');
      try {
        process.chdir(target);
      } catch (err) {
        throw new CmdError(`${expandLocal(a[0] ?? '~')}: ${describe(err)}`);
      }
      ctx.out(process.cwd());
    },
  },
  {
    names: ['lls'],
    usage: 'lls [-l] [-a] [PATH]',
    help: 'list a local directory',
    args: ['local'],
    run: llsCmd,
  },
  {
    names: ['lpwd'],
    usage: 'lpwd',
    help: 'show the local directory',
    args: [],
    run: async (ctx, a) => {
      need(a, 0, 0, 'lpwd');
      ctx.out(process.cwd());
    },
  },
  {
    names: ['help', '?'],
    usage: 'help [COMMAND]',
    help: 'list the commands, or explain one',
    args: ['command'],
    run: async (ctx, a) => {
      need(a, 0, 1, 'help [COMMAND]');
      if (a[0]) {
        const c = findCommand(a[0]);
        if (!c) throw new CmdError(`unknown command ${a[0]}`);
        ctx.out(`${c.usage}`);
        ctx.out(`  ${c.help}`);
        if (c.names.length > 1) ctx.out(`  also: ${c.names.slice(1).join(', ')}`);
        return;
      }
      const w = Math.max(...COMMANDS.map((c) => c.usage.length));
      for (const c of COMMANDS) ctx.out(`${c.usage.padEnd(w)}  ${c.help}`);
      ctx.out(`${'!COMMAND'.padEnd(w)}  run a local shell command (! alone: a shell)`);
    },
  },
  {
    names: ['version'],
    usage: 'version',
    help: 'show the client version and what the server offers',
    args: [],
    run: async (ctx) => {
      ctx.out(`jailsftp ${clientVersion()}, SFTP protocol version 3`);
      const ext = Object.keys(ctx.remote.extensions());
      ctx.out(`server extensions: ${ext.length ? ext.join(', ') : 'none'}`);
    },
  },
  {
    names: ['quit', 'exit', 'bye'],
    usage: 'quit',
    help: 'close the connection and leave',
    args: [],
    run: async () => 'quit',
  },
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.names.includes(name));
}

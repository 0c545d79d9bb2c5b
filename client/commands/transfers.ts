// The transfer commands: put/get (files, globs, trees with -r), reput/reget, mput/mget. Each
// routine serves both directions; the direction is a Way (transfer-file.ts).
import { lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isDirMode, isFileMode } from '../../common/format.js';
import { CmdError, Interrupted } from '../errors.js';
import { globLocal, isLocalDir, resolveLocal } from '../local.js';
import { basenameRemote, joinRemote } from '../paths.js';
import { globRemote, onPath, rpath, usableEntries } from './args.js';
import type { Args, Ctx } from './context.js';
import { GET, PUT, transferFile, type Start, type Way } from './transfer-file.js';

/** What a tree walk sees of one entry of a directory. */
interface Entry {
  name: string;
  kind: 'dir' | 'file' | 'other';
}

/** The tree operations of each side: make a directory, list one. */
interface TreeSide {
  /** makes `dir` (when missing) as the destination of a tree */
  makeDir(ctx: Ctx, dir: string): Promise<void>;
  /** the entries of `dir`, sorted, as the source of a tree */
  list(ctx: Ctx, dir: string): Promise<Entry[]>;
  join(dir: string, name: string): string;
  basename(path: string): string;
  isDir(ctx: Ctx, path: string): Promise<boolean>;
}

const LOCAL_TREE: TreeSide = {
  async makeDir(_ctx, dir) {
    mkdirSync(dir, { recursive: true });
  },
  async list(_ctx, dir) {
    return readdirSync(dir)
      .sort()
      .map((name) => {
        const st = lstatSync(join(dir, name));
        return { name, kind: st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other' };
      });
  },
  join,
  basename: (p) => basename(p),
  isDir: async (_ctx, p) => isLocalDir(p),
};

const REMOTE_TREE: TreeSide = {
  async makeDir(ctx, dir) {
    const rst = await ctx.remote.statOrNull(dir);
    if (!rst) await onPath(dir, () => ctx.remote.mkdir(dir));
    else if (!isDirMode(rst.mode)) throw new CmdError(`${dir}: not a directory`);
  },
  async list(ctx, dir) {
    const list = await onPath(dir, () => ctx.remote.readdir(dir));
    // names the server lists become local paths: suspicious ones are refused here
    return usableEntries(ctx, list)
      .sort((a, b) => a.filename.localeCompare(b.filename))
      .map((e) => ({
        name: e.filename,
        kind: isDirMode(e.attrs.mode) ? 'dir' : isFileMode(e.attrs.mode) ? 'file' : 'other',
      }));
  },
  join: joinRemote,
  basename: basenameRemote,
  isDir: async (ctx, p) => {
    const st = await ctx.remote.statOrNull(p).catch(() => null);
    return st !== null && isDirMode(st.mode);
  },
};

function trees(way: Way): { from: TreeSide; to: TreeSide } {
  return way === PUT
    ? { from: LOCAL_TREE, to: REMOTE_TREE }
    : { from: REMOTE_TREE, to: LOCAL_TREE };
}

/** Copies the tree `src` to `dst` (made when missing); other than files and directories: skipped. */
async function transferTree(ctx: Ctx, way: Way, src: string, dst: string): Promise<void> {
  const { from, to } = trees(way);
  await to.makeDir(ctx, dst);
  for (const e of await from.list(ctx, src)) {
    if (ctx.signal.aborted) throw new Interrupted();
    const s = from.join(src, e.name);
    const d = to.join(dst, e.name);
    if (e.kind === 'dir') await transferTree(ctx, way, s, d);
    else if (e.kind === 'file') await transferFile(ctx, way, s, d, 'ask');
    else ctx.err(`skipping ${s}: not a regular file`);
  }
}

/** put/get/reput/reget [-r] SOURCE [DEST]: files, globs, trees. */
async function transferCmd(ctx: Ctx, way: Way, a: Args, mode: Start): Promise<void> {
  const { from, to } = trees(way);
  const sources = way === PUT ? globLocal(a.rest[0]!) : await globRemote(ctx, a.rest[0]!);
  const dest = way === PUT ? rpath(ctx, a.rest[1]) : resolveLocal(a.rest[1] ?? '.');
  const destIsDir = await to.isDir(ctx, dest);
  if (sources.length > 1 && !destIsDir) throw new CmdError(`${dest}: not a directory`);
  for (const src of sources) {
    if (await from.isDir(ctx, src)) {
      if (!a.opts.has('r')) throw new CmdError(`${src}: is a directory (use ${way.cmd} -r)`);
      await transferTree(ctx, way, src, destIsDir ? to.join(dest, from.basename(src)) : dest);
    } else await transferFile(ctx, way, src, dest, mode);
  }
}

/** mput/mget PATTERN...: every file matching into the current directory of the other side. */
async function transferMatches(ctx: Ctx, way: Way, patterns: string[]): Promise<void> {
  const { from } = trees(way);
  const dest = way === PUT ? ctx.cwd : process.cwd();
  for (const pattern of patterns)
    for (const src of way === PUT ? globLocal(pattern) : await globRemote(ctx, pattern)) {
      if (await from.isDir(ctx, src)) ctx.err(`skipping ${src}: is a directory`);
      else await transferFile(ctx, way, src, dest, 'ask');
    }
}

export const put = (ctx: Ctx, a: Args): Promise<void> => transferCmd(ctx, PUT, a, 'ask');
export const reput = (ctx: Ctx, a: Args): Promise<void> => transferCmd(ctx, PUT, a, 'resume');
export const get = (ctx: Ctx, a: Args): Promise<void> => transferCmd(ctx, GET, a, 'ask');
export const reget = (ctx: Ctx, a: Args): Promise<void> => transferCmd(ctx, GET, a, 'resume');
export const mput = (ctx: Ctx, a: Args): Promise<void> => transferMatches(ctx, PUT, a.rest);
export const mget = (ctx: Ctx, a: Args): Promise<void> => transferMatches(ctx, GET, a.rest);

// The two sides of a transfer, the local file system and the server, behind one interface, so that
// one routine serves put and get (files and trees). Names the server lists are checked before
// they become local paths (usableEntries).
import { lstatSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isDirMode, isFileMode } from '../../common/format.js';
import { CmdError } from '../errors.js';
import { globLocal, isLocalDir, localSizeOrNull, resolveLocal } from '../local.js';
import { basenameRemote, joinRemote } from '../paths.js';
import { globRemote, onPath, rpath, usableEntries } from './args.js';
import type { Ctx } from './context.js';

/** What a tree walk sees of one entry of a directory. */
export interface Entry {
  name: string;
  kind(): 'dir' | 'file' | 'other';
}

export interface Side {
  name: 'local' | 'remote';
  join(dir: string, name: string): string;
  basename(path: string): string;
  /** a path from the command line (absent: the working directory) */
  resolve(ctx: Ctx, path: string | undefined): string;
  /** the working directory */
  cwd(ctx: Ctx): string;
  /** the paths a glob in the last component matches; a plain path as it is */
  glob(ctx: Ctx, pattern: string): Promise<string[]>;
  /** a file to send: its size, or why it cannot be sent */
  source(ctx: Ctx, path: string, cmd: string): Promise<number>;
  /** what is at a destination path: null when nothing; size null when it is no file to resume */
  existing(ctx: Ctx, path: string): Promise<{ dir: boolean; size: number | null } | null>;
  isDir(ctx: Ctx, path: string): Promise<boolean>;
  /** makes `dir` (when missing) as the destination of a tree */
  makeDir(ctx: Ctx, dir: string): Promise<void>;
  /** the entries of `dir`, sorted, as the source of a tree */
  list(ctx: Ctx, dir: string): Promise<Entry[]>;
}

export const LOCAL: Side = {
  name: 'local',
  join,
  basename: (p) => basename(p),
  resolve: (_ctx, p) => resolveLocal(p ?? '.'),
  cwd: () => process.cwd(),
  glob: async (_ctx, pattern) => globLocal(pattern),
  async source(_ctx, path, cmd) {
    const st = await onPath(path, async () => statSync(path));
    if (st.isDirectory()) throw new CmdError(`${path}: is a directory (use ${cmd} -r)`);
    if (!st.isFile()) throw new CmdError(`${path}: not a regular file`);
    return st.size;
  },
  async existing(_ctx, path) {
    if (isLocalDir(path)) return { dir: true, size: null };
    const size = localSizeOrNull(path);
    return size === null ? null : { dir: false, size };
  },
  isDir: async (_ctx, p) => isLocalDir(p),
  async makeDir(_ctx, dir) {
    mkdirSync(dir, { recursive: true });
  },
  async list(_ctx, dir) {
    return readdirSync(dir)
      .sort()
      .map((name) => ({
        name,
        kind: () => {
          const st = lstatSync(join(dir, name));
          return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
        },
      }));
  },
};

export const REMOTE: Side = {
  name: 'remote',
  join: joinRemote,
  basename: basenameRemote,
  resolve: rpath,
  cwd: (ctx) => ctx.cwd,
  glob: globRemote,
  async source(ctx, path, cmd) {
    const st = await onPath(path, () => ctx.remote.stat(path));
    if (isDirMode(st.mode)) throw new CmdError(`${path}: is a directory (use ${cmd} -r)`);
    return st.size;
  },
  async existing(ctx, path) {
    const st = await onPath(path, () => ctx.remote.statOrNull(path));
    return st && { dir: isDirMode(st.mode), size: st.size };
  },
  async isDir(ctx, p) {
    const st = await ctx.remote.statOrNull(p).catch(() => null);
    return st !== null && isDirMode(st.mode);
  },
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
        kind: () => (isDirMode(e.attrs.mode) ? 'dir' : isFileMode(e.attrs.mode) ? 'file' : 'other'),
      }));
  },
};

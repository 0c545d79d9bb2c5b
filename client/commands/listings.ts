// Listings: ls and dir (remote), lls (local), in short or `ls -l` form (common/format.ts).
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isDirMode, lsLong, type LsEntry } from '../../common/format.js';
import { resolveLocal } from '../local.js';
import { basenameRemote, dirnameRemote, globRegExp, hasGlob } from '../paths.js';
import { onPath, rpath } from './args.js';
import type { Args, Ctx } from './context.js';

function entryOf(name: string, st: { mode: number; size: number; mtime: number }): LsEntry {
  return { name, mode: st.mode, size: st.size, mtime: st.mtime };
}

/** Prints entries sorted by name, long or short; `Command return empty!` when there are none. */
function print(ctx: Ctx, entries: LsEntry[], long: boolean): void {
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (entries.length === 0) return ctx.out('Command return empty!');
  for (const line of long ? lsLong(entries) : entries.map((e) => e.name)) ctx.out(line);
}

/** ls [-l] [-a] [PATH] (dir: always long): a directory, a file, or a glob. */
export async function ls(ctx: Ctx, a: Args, forceLong: boolean): Promise<void> {
  const target = rpath(ctx, a.rest[0]);
  let entries: LsEntry[];
  const last = basenameRemote(target);
  if (hasGlob(last)) {
    const dir = dirnameRemote(target);
    const re = globRegExp(last);
    const list = await onPath(dir, () => ctx.remote.readdir(dir));
    entries = list.filter((e) => re.test(e.filename)).map((e) => entryOf(e.filename, e.attrs));
  } else {
    const st = await onPath(target, () => ctx.remote.stat(target));
    if (!isDirMode(st.mode)) entries = [entryOf(a.rest[0] ?? last, st)];
    else {
      const list = await onPath(target, () => ctx.remote.readdir(target));
      entries = list
        .filter((e) => e.filename !== '.' && e.filename !== '..')
        .filter((e) => a.opts.has('a') || !e.filename.startsWith('.'))
        .map((e) => entryOf(e.filename, e.attrs));
    }
  }
  print(ctx, entries, forceLong || a.opts.has('l'));
}

/** lls [-l] [-a] [PATH]: the same for a local directory or file. */
export async function lls(ctx: Ctx, a: Args): Promise<void> {
  const target = resolveLocal(a.rest[0] ?? '.');
  const st = await onPath(target, async () => statSync(target));
  const toEntry = (name: string, s: { mode: number; size: number; mtimeMs: number }): LsEntry =>
    entryOf(name, { mode: s.mode, size: s.size, mtime: Math.floor(s.mtimeMs / 1000) });
  let entries: LsEntry[];
  if (!st.isDirectory()) entries = [toEntry(a.rest[0]!, st)];
  else
    entries = readdirSync(target)
      .filter((n) => a.opts.has('a') || !n.startsWith('.'))
      .map((n) => {
        try {
          return toEntry(n, lstatSync(join(target, n)));
        } catch {
          return toEntry(n, { mode: 0, size: 0, mtimeMs: 0 });
        }
      });
  print(ctx, entries, a.opts.has('l'));
}

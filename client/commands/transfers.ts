// The transfer commands: put/get (files, globs, trees with -r), reput/reget, mput/mget. Each
// routine serves both directions; the direction is a Way (transfer-file.ts).
import { CmdError, Interrupted } from '../errors.js';
import type { Args, Ctx } from './context.js';
import { GET, PUT, transferFile, type Start, type Way } from './transfer-file.js';

/** Copies the tree `src` to `dst` (made when missing); other than files and directories: skipped. */
async function transferTree(ctx: Ctx, way: Way, src: string, dst: string): Promise<void> {
  const { from, to } = way;
  await to.makeDir(ctx, dst);
  for (const e of await from.list(ctx, src)) {
    if (ctx.signal.aborted) throw new Interrupted();
    const s = from.join(src, e.name);
    const d = to.join(dst, e.name);
    const kind = e.kind();
    if (kind === 'dir') await transferTree(ctx, way, s, d);
    else if (kind === 'file') await transferFile(ctx, way, s, d, 'ask');
    else ctx.err(`skipping ${s}: not a regular file`);
  }
}

/** put/get/reput/reget [-r] SOURCE [DEST]: files, globs, trees. */
async function transferCmd(ctx: Ctx, way: Way, a: Args, mode: Start): Promise<void> {
  const { from, to } = way;
  const sources = await from.glob(ctx, a.rest[0]!);
  const dest = to.resolve(ctx, a.rest[1]);
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
  const { from, to } = way;
  const dest = to.cwd(ctx);
  for (const pattern of patterns)
    for (const src of await from.glob(ctx, pattern)) {
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

// The commands that manage files and directories, remote (cd, mkdir, rm, ...) and local (lcd,
// lpwd), and what the session knows (df, version).
import { humanSize, isDirMode, percent } from '../../common/format.js';
import { Status } from '../../common/wire.js';
import { CmdError, describe, sftpStatus } from '../errors.js';
import { clientVersion, expandLocal, resolveLocal } from '../local.js';
import { basenameRemote, joinRemote, resolveRemote } from '../paths.js';
import { globRemote, onPath, rpath } from './args.js';
import type { Args, Ctx } from './context.js';

export async function cd(ctx: Ctx, a: Args): Promise<void> {
  const r = resolveRemote(ctx.cwd, a.rest[0] ?? ctx.home, ctx.home);
  if (r.escaped) throw new CmdError('Permission denied!', true);
  const st = await onPath(r.path, () => ctx.remote.stat(r.path));
  if (!isDirMode(st.mode)) throw new CmdError(`${r.path}: Not a directory`);
  ctx.cwd = r.path;
  ctx.out(r.path);
}

export async function pwd(ctx: Ctx): Promise<void> {
  ctx.out(ctx.cwd);
}

/**
 * Runs `op` on each operand as a remote path; when it fails, `explain` may throw a clearer error
 * than the server's (which is reported otherwise).
 */
async function eachPath(
  ctx: Ctx,
  words: string[],
  op: (path: string) => Promise<void>,
  explain: (path: string, err: unknown) => Promise<void>,
): Promise<void> {
  for (const p of words) {
    const path = rpath(ctx, p);
    await onPath(path, async () => {
      try {
        await op(path);
      } catch (err) {
        await explain(path, err);
        throw err;
      }
    });
  }
}

export async function mkdir(ctx: Ctx, a: Args): Promise<void> {
  await eachPath(
    ctx,
    a.rest,
    (path) => ctx.remote.mkdir(path),
    async (path) => {
      const st = await ctx.remote.statOrNull(path).catch(() => null);
      if (st) throw new CmdError(`${path}: File exists`);
    },
  );
}

export async function rmdir(ctx: Ctx, a: Args): Promise<void> {
  await eachPath(
    ctx,
    a.rest,
    (path) => ctx.remote.rmdir(path),
    async (path, err) => {
      if (sftpStatus(err) !== Status.FAILURE) return;
      const list = await ctx.remote.readdir(path).catch(() => null);
      if (list && list.some((e) => e.filename !== '.' && e.filename !== '..'))
        throw new CmdError(`${path}: Directory not empty`);
    },
  );
}

export async function rm(ctx: Ctx, a: Args): Promise<void> {
  for (const pattern of a.rest)
    for (const path of await globRemote(ctx, pattern)) {
      await onPath(path, async () => {
        const st = await ctx.remote.lstat(path);
        if (isDirMode(st.mode)) throw new CmdError(`${path}: is a directory (use rmdir)`);
        await ctx.remote.unlink(path);
      });
    }
}

export async function rename(ctx: Ctx, a: Args): Promise<void> {
  const from = rpath(ctx, a.rest[0]);
  let to = rpath(ctx, a.rest[1]);
  const st = await ctx.remote.statOrNull(to).catch(() => null);
  if (st && isDirMode(st.mode)) to = joinRemote(to, basenameRemote(from));
  await onPath(from, () => ctx.remote.rename(from, to));
}

export async function chmod(ctx: Ctx, a: Args): Promise<void> {
  const [text, ...patterns] = a.rest;
  if (!/^[0-7]{1,4}$/.test(text!)) throw new CmdError(`invalid mode ${text} (use octal, e.g. 644)`);
  const mode = parseInt(text!, 8);
  for (const pattern of patterns)
    for (const path of await globRemote(ctx, pattern))
      await onPath(path, () => ctx.remote.chmod(path, mode));
}

export async function df(ctx: Ctx): Promise<void> {
  const s = await onPath(ctx.cwd, () => ctx.remote.diskSpace(ctx.cwd));
  if (!s) throw new CmdError('the server does not report disk space');
  const used = s.total - s.free;
  const row = (c: string[]): string =>
    `${c[0]!.padStart(10)}${c[1]!.padStart(10)}${c[2]!.padStart(10)}${c[3]!.padStart(6)}`;
  ctx.out(row(['Size', 'Used', 'Avail', 'Use%']));
  ctx.out(row([humanSize(s.total), humanSize(used), humanSize(s.free), percent(used, s.total)]));
}

export async function lcd(ctx: Ctx, a: Args): Promise<void> {
  const target = resolveLocal(a.rest[0] ?? '~');
  try {
    process.chdir(target);
  } catch (err) {
    throw new CmdError(`${expandLocal(a.rest[0] ?? '~')}: ${describe(err)}`);
  }
  ctx.out(process.cwd());
}

export async function lpwd(ctx: Ctx): Promise<void> {
  ctx.out(process.cwd());
}

export async function version(ctx: Ctx): Promise<void> {
  ctx.out(`jailsftp ${clientVersion()}, SFTP protocol version 3`);
  const ext = Object.keys(ctx.remote.extensions());
  ctx.out(`server extensions: ${ext.length ? ext.join(', ') : 'none'}`);
}

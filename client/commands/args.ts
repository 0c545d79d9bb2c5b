// Command arguments: options and operand counts, remote paths, and globs expanded on either side.
// Names a server lists are checked here before anything uses them (safe-names.ts).
import type { FileEntryWithStats } from 'ssh2';
import { isDirMode } from '../../common/format.js';
import { CmdError, Interrupted, describe } from '../errors.js';
import {
  basenameRemote,
  dirnameRemote,
  globRegExp,
  hasGlob,
  joinRemote,
  resolveRemote,
} from '../paths.js';
import { isSuspiciousName, suspiciousNameMessage } from '../safe-names.js';
import type { Args, Command, Ctx } from './context.js';

/** Splits options (`-r`, `-la`; `--` ends them) from operands; throws on a letter not allowed. */
export function parseOptions(words: string[], allowed: string): Args {
  const opts = new Set<string>();
  const rest: string[] = [];
  let done = false;
  for (const a of words) {
    if (!done && a === '--') done = true;
    else if (!done && /^-[a-zA-Z]+$/.test(a)) {
      for (const f of a.slice(1)) {
        if (!allowed.includes(f)) throw new CmdError(`unknown option -${f}`);
        opts.add(f);
      }
    } else rest.push(a);
  }
  return { opts, rest };
}

/** The arguments of a command as its table entry allows them, or its usage error. */
export function parseArgs(cmd: Command, words: string[]): Args {
  const a =
    cmd.options === undefined
      ? { opts: new Set<string>(), rest: words }
      : parseOptions(words, cmd.options);
  if (cmd.count) {
    const [min, max] = cmd.count;
    if (a.rest.length < min || a.rest.length > max) throw new CmdError(`usage: ${cmd.usage}`);
  }
  return a;
}

/** A remote path from the command line (`.` when absent), resolved against the remote directory. */
export function rpath(ctx: Ctx, p: string | undefined): string {
  return resolveRemote(ctx.cwd, p ?? '.', ctx.home).path;
}

/** Wraps a remote failure as "PATH: reason". */
export async function onPath<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CmdError || err instanceof Interrupted) throw err;
    throw new CmdError(`${path}: ${describe(err)}`);
  }
}

/**
 * The entries of a server's directory listing that may be used as names: `.` and `..` that are
 * directories are dropped silently (every listing has them), any other suspicious name is
 * reported and counted, so that the command fails once it has done the rest.
 */
export function usableEntries(ctx: Ctx, list: FileEntryWithStats[]): FileEntryWithStats[] {
  return list.filter((e) => {
    const n = e.filename;
    if ((n === '.' || n === '..') && isDirMode(e.attrs.mode)) return false;
    if (!isSuspiciousName(n)) return true;
    ctx.err(suspiciousNameMessage(n));
    ctx.suspicious++;
    return false;
  });
}

/** Expands a glob in the last component of a remote path; a plain path is returned as it is. */
export async function globRemote(ctx: Ctx, pattern: string): Promise<string[]> {
  const full = rpath(ctx, pattern);
  const last = basenameRemote(full);
  if (!hasGlob(last)) return [full];
  const dir = dirnameRemote(full);
  const re = globRegExp(last);
  const list = await onPath(dir, () => ctx.remote.readdir(dir));
  const matching = list.filter(
    (e) => re.test(e.filename) && (!e.filename.startsWith('.') || last.startsWith('.')),
  );
  const hits = usableEntries(ctx, matching)
    .map((e) => e.filename)
    .sort()
    .map((n) => joinRemote(dir, n));
  if (hits.length === 0 && ctx.suspicious === 0) throw new CmdError(`${pattern}: no match`);
  return hits;
}

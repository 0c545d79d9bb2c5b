// The command table: every ftp> command once, with its usage line and help. `help`, usage errors
// and completion are generated from it; runCommand checks a command's arguments before it runs.
import { CmdError } from '../errors.js';
import { parseArgs } from './args.js';
import type { ArgKind, Command, Ctx } from './context.js';
import { ls, lls } from './listings.js';
import * as m from './manage.js';
import * as t from './transfers.js';

/** What a table entry gives besides its usage, help and run. */
interface Extra {
  /** other names */
  also?: string[];
  /** option letters accepted (default: those the usage shows, e.g. `[-r]`) */
  options?: string;
  /** the operand count is not checked (default: as the usage shows) */
  anyCount?: boolean;
}

/**
 * The operands a usage line asks for: `NAME` one, `[NAME]` one optional, `NAME...` any number of
 * one or more. Options (`[-r]`) are not operands.
 */
export function usageCount(usage: string): [number, number] {
  let min = 0;
  let max = 0;
  for (const w of usage.split(/\s+/).slice(1)) {
    if (/^\[-/.test(w)) continue;
    const optional = w.startsWith('[');
    if (!optional) min++;
    max = w.endsWith('...') || w.endsWith('...]') ? Infinity : max + 1;
  }
  return [min, max];
}

/** The option letters a usage line shows: "put [-r] LOCAL" -> "r". */
export function usageOptions(usage: string): string | undefined {
  const letters = [...usage.matchAll(/\[-([a-zA-Z]+)\]/g)].map((m) => m[1]).join('');
  return letters || undefined;
}

/** A table entry from its usage line (the first word is the command's name). */
function command(
  usage: string,
  help: string,
  args: ArgKind[],
  run: Command['run'],
  x: Extra = {},
): Command {
  return {
    names: [usage.split(' ')[0]!, ...(x.also ?? [])],
    usage,
    help,
    args,
    options: x.options ?? usageOptions(usage),
    count: x.anyCount ? undefined : usageCount(usage),
    run,
  };
}

const LS_OPTIONS = { options: 'la1' };
const DIR = 'list a remote directory';

export const COMMANDS: Command[] = [
  command(
    'ls [-l] [-a] [PATH]',
    `${DIR} (-l: long format, -a: show hidden files)`,
    ['remote'],
    (ctx, a) => ls(ctx, a, false),
    LS_OPTIONS,
  ),
  command(
    'dir [PATH]',
    `${DIR} in long format`,
    ['remote'],
    (ctx, a) => ls(ctx, a, true),
    LS_OPTIONS,
  ),
  command(
    'cd [PATH]',
    'change the remote directory (no PATH: back to the start directory)',
    ['remote-dir'],
    m.cd,
  ),
  command('pwd', 'show the remote directory', [], m.pwd),
  command('mkdir PATH...', 'make remote directories', ['remote'], m.mkdir),
  command('rmdir PATH...', 'remove empty remote directories', ['remote-dir'], m.rmdir),
  command('rm PATH...', 'remove remote files (globs allowed)', ['remote'], m.rm, {
    also: ['delete'],
  }),
  command(
    'rename OLD NEW',
    'rename or move a remote file or directory (replaces NEW)',
    ['remote', 'remote'],
    m.rename,
    { also: ['mv'] },
  ),
  command(
    'chmod MODE PATH...',
    'change permissions of remote files (octal MODE, e.g. 644)',
    ['none', 'remote'],
    m.chmod,
  ),
  command('df', 'show the quota (or disk) size and the free space', [], m.df),
  command(
    'put [-r] LOCAL [REMOTE]',
    'upload a file (-r: a directory); a partial remote file can be resumed',
    ['local', 'remote'],
    t.put,
  ),
  command(
    'reput LOCAL [REMOTE]',
    'resume an upload, after checking the remote part',
    ['local', 'remote'],
    t.reput,
    { options: 'r' },
  ),
  command(
    'mput PATTERN...',
    'upload files matching local globs into the remote directory',
    ['local'],
    t.mput,
  ),
  command(
    'get [-r] REMOTE [LOCAL]',
    'download a file (-r: a directory); a partial local file can be resumed',
    ['remote', 'local'],
    t.get,
  ),
  command('reget REMOTE [LOCAL]', 'resume a download', ['remote', 'local'], t.reget, {
    options: 'r',
  }),
  command(
    'mget PATTERN...',
    'download files matching remote globs into the local directory',
    ['remote'],
    t.mget,
  ),
  command('lcd [PATH]', 'change the local directory', ['local-dir'], m.lcd),
  command('lls [-l] [-a] [PATH]', 'list a local directory', ['local'], lls, LS_OPTIONS),
  command('lpwd', 'show the local directory', [], m.lpwd),
  command(
    'help [COMMAND]',
    'list the commands, or explain one',
    ['command'],
    async (ctx, a) => {
      for (const line of helpText(a.rest[0])) ctx.out(line);
    },
    { also: ['?'] },
  ),
  command('version', 'show the client version and what the server offers', [], m.version, {
    anyCount: true,
  }),
  command('quit', 'close the connection and leave', [], async () => 'quit', {
    also: ['exit', 'bye'],
    anyCount: true,
  }),
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.names.includes(name));
}

/** What `help` prints: every command's usage and help, or one command's with its other names. */
export function helpText(name?: string): string[] {
  if (name) {
    const c = findCommand(name);
    if (!c) throw new CmdError(`unknown command ${name}`);
    const lines = [c.usage, `  ${c.help}`];
    if (c.names.length > 1) lines.push(`  also: ${c.names.slice(1).join(', ')}`);
    return lines;
  }
  const w = Math.max(...COMMANDS.map((c) => c.usage.length));
  return [
    ...COMMANDS.map((c) => `${c.usage.padEnd(w)}  ${c.help}`),
    `${'!COMMAND'.padEnd(w)}  run a local shell command (! alone: a shell)`,
  ];
}

/**
 * Runs a command with the words that follow its name: a usage error when the table's options or
 * operand count do not fit; a failure when names from the server had to be refused.
 */
export async function runCommand(ctx: Ctx, cmd: Command, words: string[]): Promise<void | 'quit'> {
  const args = parseArgs(cmd, words);
  ctx.suspicious = 0;
  const r = await cmd.run(ctx, args);
  const n = ctx.suspicious;
  if (n > 0) throw new CmdError(`${n} suspicious name${n > 1 ? 's' : ''} skipped`);
  return r;
}

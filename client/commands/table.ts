// The command table: every ftp> command once, with its usage line and help. `help`, usage errors
// and completion are generated from it; runCommand checks a command's arguments before it runs.
import { CmdError } from '../errors.js';
import { parseArgs } from './args.js';
import type { Command, Ctx } from './context.js';
import { ls, lls } from './listings.js';
import * as m from './manage.js';
import * as t from './transfers.js';

const ANY = Infinity;

export const COMMANDS: Command[] = [
  {
    names: ['ls'],
    usage: 'ls [-l] [-a] [PATH]',
    help: 'list a remote directory (-l: long format, -a: show hidden files)',
    args: ['remote'],
    options: 'la1',
    count: [0, 1],
    run: (ctx, a) => ls(ctx, a, false),
  },
  {
    names: ['dir'],
    usage: 'dir [PATH]',
    help: 'list a remote directory in long format',
    args: ['remote'],
    options: 'la1',
    count: [0, 1],
    run: (ctx, a) => ls(ctx, a, true),
  },
  {
    names: ['cd'],
    usage: 'cd [PATH]',
    help: 'change the remote directory (no PATH: back to the start directory)',
    args: ['remote-dir'],
    count: [0, 1],
    run: m.cd,
  },
  {
    names: ['pwd'],
    usage: 'pwd',
    help: 'show the remote directory',
    args: [],
    count: [0, 0],
    run: m.pwd,
  },
  {
    names: ['mkdir'],
    usage: 'mkdir PATH...',
    help: 'make remote directories',
    args: ['remote'],
    count: [1, ANY],
    run: m.mkdir,
  },
  {
    names: ['rmdir'],
    usage: 'rmdir PATH...',
    help: 'remove empty remote directories',
    args: ['remote-dir'],
    count: [1, ANY],
    run: m.rmdir,
  },
  {
    names: ['rm', 'delete'],
    usage: 'rm PATH...',
    help: 'remove remote files (globs allowed)',
    args: ['remote'],
    count: [1, ANY],
    run: m.rm,
  },
  {
    names: ['rename', 'mv'],
    usage: 'rename OLD NEW',
    help: 'rename or move a remote file or directory (replaces NEW)',
    args: ['remote', 'remote'],
    count: [2, 2],
    run: m.rename,
  },
  {
    names: ['chmod'],
    usage: 'chmod MODE PATH...',
    help: 'change permissions of remote files (octal MODE, e.g. 644)',
    args: ['none', 'remote'],
    count: [2, ANY],
    run: m.chmod,
  },
  {
    names: ['df'],
    usage: 'df',
    help: 'show the quota (or disk) size and the free space',
    args: [],
    count: [0, 0],
    run: m.df,
  },
  {
    names: ['put'],
    usage: 'put [-r] LOCAL [REMOTE]',
    help: 'upload a file (-r: a directory); a partial remote file can be resumed',
    args: ['local', 'remote'],
    options: 'r',
    count: [1, 2],
    run: t.put,
  },
  {
    names: ['reput'],
    usage: 'reput LOCAL [REMOTE]',
    help: 'resume an upload, after checking the remote part',
    args: ['local', 'remote'],
    options: 'r',
    count: [1, 2],
    run: t.reput,
  },
  {
    names: ['mput'],
    usage: 'mput PATTERN...',
    help: 'upload files matching local globs into the remote directory',
    args: ['local'],
    count: [1, ANY],
    run: t.mput,
  },
  {
    names: ['get'],
    usage: 'get [-r] REMOTE [LOCAL]',
    help: 'download a file (-r: a directory); a partial local file can be resumed',
    args: ['remote', 'local'],
    options: 'r',
    count: [1, 2],
    run: t.get,
  },
  {
    names: ['reget'],
    usage: 'reget REMOTE [LOCAL]',
    help: 'resume a download',
    args: ['remote', 'local'],
    options: 'r',
    count: [1, 2],
    run: t.reget,
  },
  {
    names: ['mget'],
    usage: 'mget PATTERN...',
    help: 'download files matching remote globs into the local directory',
    args: ['remote'],
    count: [1, ANY],
    run: t.mget,
  },
  {
    names: ['lcd'],
    usage: 'lcd [PATH]',
    help: 'change the local directory',
    args: ['local-dir'],
    count: [0, 1],
    run: m.lcd,
  },
  {
    names: ['lls'],
    usage: 'lls [-l] [-a] [PATH]',
    help: 'list a local directory',
    args: ['local'],
    options: 'la1',
    count: [0, 1],
    run: lls,
  },
  {
    names: ['lpwd'],
    usage: 'lpwd',
    help: 'show the local directory',
    args: [],
    count: [0, 0],
    run: m.lpwd,
  },
  {
    names: ['help', '?'],
    usage: 'help [COMMAND]',
    help: 'list the commands, or explain one',
    args: ['command'],
    count: [0, 1],
    run: async (ctx, a) => {
      for (const line of helpText(a.rest[0])) ctx.out(line);
    },
  },
  {
    names: ['version'],
    usage: 'version',
    help: 'show the client version and what the server offers',
    args: [],
    run: m.version,
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

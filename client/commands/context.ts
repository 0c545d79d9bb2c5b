// What every command runs with (the session's context) and what the command table holds.
import type { Connection } from '../connect.js';
import type { Remote } from '../remote.js';

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
  /** names from the server refused during the running command (it fails when there were any) */
  suspicious: number;
  out: (line: string) => void;
  err: (line: string) => void;
}

export type ArgKind = 'remote' | 'local' | 'remote-dir' | 'local-dir' | 'command' | 'none';

/** The words of a command line after the command name, its options taken out. */
export interface Args {
  /** operands */
  rest: string[];
  /** option letters given (-r, -la, ...) */
  opts: Set<string>;
}

export interface Command {
  names: string[];
  /** the one usage line: help shows it and a usage error prints it */
  usage: string;
  help: string;
  /** what each positional argument names, for completion; the last one repeats */
  args: ArgKind[];
  /** option letters accepted; absent: every word is an operand */
  options?: string;
  /** how many operands [min, max]; absent: not checked */
  count?: [number, number];
  run: (ctx: Ctx, a: Args) => Promise<void | 'quit'>;
}

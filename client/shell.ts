// Running commands: the interactive ftp> prompt (line editing, completion, history) and batch mode.
import { spawn } from 'node:child_process';
import {
  appendFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { isDirMode } from '../common/format.js';
import type { ArgKind, Ctx } from './commands/context.js';
import { COMMANDS, findCommand, runCommand } from './commands/table.js';
import { CmdError, Interrupted, describe } from './errors.js';
import { expandLocal } from './local.js';
import { resolveRemote } from './paths.js';
import { escapeForTerminal, isSuspiciousName } from './safe-names.js';
import { splitWords } from './words.js';

export type Outcome = 'ok' | 'failed' | 'quit';

const HISTORY_SIZE = 1000;

export function historyFile(): string {
  return process.env.JAILSFTP_HISTORY ?? join(homedir(), '.jailsftp', 'history');
}

function runShell(cmd: string, signal: AbortSignal): Promise<number> {
  return new Promise((resolve) => {
    const sh = process.env.SHELL || '/bin/sh';
    const child = cmd.trim()
      ? spawn('/bin/sh', ['-c', cmd], { stdio: 'inherit' })
      : spawn(sh, [], { stdio: 'inherit' });
    const onAbort = (): void => void child.kill('SIGINT');
    signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', () => resolve(127));
    child.on('exit', (code, sig) => {
      signal.removeEventListener('abort', onAbort);
      resolve(code ?? (sig ? 128 : 1));
    });
  });
}

/**
 * Runs one command line. Ctrl-C (SIGINT) during the command aborts it; a second one leaves.
 */
export async function execLine(ctx: Ctx, line: string): Promise<Outcome> {
  const ac = new AbortController();
  let hits = 0;
  const onSigint = (): void => {
    hits++;
    if (hits === 1) ac.abort();
    else {
      ctx.err('');
      ctx.err('Interrupted twice, leaving.');
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  ctx.signal = ac.signal;
  try {
    const trimmed = line.trim();
    if (trimmed.startsWith('!')) {
      const code = await runShell(trimmed.slice(1), ac.signal);
      if (code !== 0) ctx.err(`shell command exited with status ${code}`);
      return code === 0 ? 'ok' : 'failed';
    }
    const words = splitWords(trimmed);
    if (words.length === 0) return 'ok';
    const cmd = findCommand(words[0]!);
    if (!cmd) throw new CmdError(`unknown command ${words[0]} (try help)`);
    const r = await runCommand(ctx, cmd, words.slice(1));
    return r === 'quit' ? 'quit' : 'ok';
  } catch (err) {
    const name = line.trim().split(/\s+/)[0] ?? '';
    if (err instanceof Interrupted) ctx.err('Interrupted.');
    else if (err instanceof CmdError && err.bare) ctx.err(err.message);
    else if (err instanceof CmdError) ctx.err(`${name}: ${err.message}`);
    else {
      ctx.err(`${name}: ${describe(err)}`);
      if (process.env.JAILSFTP_DEBUG)
        for (const l of String((err as Error).stack).split('\n')) ctx.err(l);
    }
    return 'failed';
  } finally {
    process.off('SIGINT', onSigint);
  }
}

// ---- batch ----------------------------------------------------------------------------------

/**
 * Runs commands without prompts: each is echoed; the first failure stops with status 1, unless the
 * command starts with `-`. A leading `@` hides the echo.
 */
export async function runBatch(
  ctx: Ctx,
  lines: AsyncIterable<string> | Iterable<string>,
): Promise<number> {
  for await (const raw of lines) {
    let line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    let ignore = false;
    let echo = true;
    for (;;) {
      if (line.startsWith('-')) ignore = true;
      else if (line.startsWith('@')) echo = false;
      else break;
      line = line.slice(1).trimStart();
    }
    if (echo) ctx.out(`ftp> ${line}`);
    const r = await execLine(ctx, line);
    if (r === 'quit') return 0;
    if (ctx.conn.closed()) {
      ctx.err('Connection closed.');
      return 1;
    }
    if (r === 'failed' && !ignore) return 1;
  }
  return 0;
}

// ---- interactive ----------------------------------------------------------------------------

function loadHistory(): string[] {
  try {
    const lines = readFileSync(historyFile(), 'utf8').split('\n').filter(Boolean);
    return lines.slice(-HISTORY_SIZE).reverse();
  } catch {
    return [];
  }
}

function saveHistoryLine(line: string, all: string[]): void {
  try {
    const file = historyFile();
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    appendFileSync(file, line + '\n', { mode: 0o600 });
    // keep the file bounded
    if (all.length >= HISTORY_SIZE && Math.random() < 0.05)
      writeFileSync(file, all.slice(0, HISTORY_SIZE).reverse().join('\n') + '\n');
  } catch {
    // history is a convenience; never fail a command over it
  }
}

function commonPrefix(words: string[]): string {
  if (words.length === 0) return '';
  let p = words[0]!;
  for (const w of words) while (!w.startsWith(p)) p = p.slice(0, -1);
  return p;
}

export class Completer {
  private cache = new Map<string, { at: number; names: string[] }>();

  constructor(private readonly ctx: Ctx) {}

  clear(): void {
    this.cache.clear();
  }

  private async remoteNames(dir: string, dirsOnly: boolean): Promise<string[]> {
    const key = `${dirsOnly}:${dir}`;
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < 5000) return hit.names;
    const list = await this.ctx.remote.readdir(dir);
    // names that are no plain names, or that would drive the terminal, are never offered
    const names = list
      .filter((e) => !isSuspiciousName(e.filename) && escapeForTerminal(e.filename) === e.filename)
      .filter((e) => !dirsOnly || isDirMode(e.attrs.mode))
      .map((e) => (isDirMode(e.attrs.mode) ? `${e.filename}/` : e.filename));
    this.cache.set(key, { at: Date.now(), names });
    return names;
  }

  private localNames(dir: string, dirsOnly: boolean): string[] {
    const out: string[] = [];
    for (const n of readdirSync(dir)) {
      let isDir = false;
      try {
        isDir = statSync(join(dir, n)).isDirectory();
      } catch {
        /* dangling */
      }
      if (dirsOnly && !isDir) continue;
      out.push(isDir ? `${n}/` : n);
    }
    return out;
  }

  async complete(line: string): Promise<[string[], string]> {
    const m = /(\S*)$/.exec(line);
    const word = m ? m[1]! : '';
    const before = line.slice(0, line.length - word.length);
    const words = before.trim() ? before.trim().split(/\s+/) : [];
    if (words.length === 0) {
      const names = COMMANDS.flatMap((c) => c.names).filter((n) => n.startsWith(word));
      return [names.map((n) => `${n} `), word];
    }
    const cmd = findCommand(words[0]!);
    if (!cmd) return [[], word];
    const positional = words.slice(1).filter((w) => !w.startsWith('-')).length;
    const kinds: ArgKind[] = cmd.args;
    const kind = kinds[Math.min(positional, kinds.length - 1)] ?? 'none';
    const slash = word.lastIndexOf('/');
    const dirPart = slash >= 0 ? word.slice(0, slash + 1) : '';
    const base = slash >= 0 ? word.slice(slash + 1) : word;
    let names: string[] = [];
    try {
      if (kind === 'command') names = COMMANDS.flatMap((c) => c.names);
      else if (kind === 'remote' || kind === 'remote-dir') {
        const dir = dirPart
          ? resolveRemote(this.ctx.cwd, dirPart, this.ctx.home).path
          : this.ctx.cwd;
        names = await this.remoteNames(dir, kind === 'remote-dir');
      } else if (kind === 'local' || kind === 'local-dir') {
        names = this.localNames(expandLocal(dirPart || '.'), kind === 'local-dir');
      }
    } catch {
      names = [];
    }
    const hits = names.filter(
      (n) => n.startsWith(base) && (base.startsWith('.') || !n.startsWith('.')),
    );
    const full = hits.map((n) => dirPart + n + (n.endsWith('/') ? '' : ' '));
    if (full.length > 1) {
      // let readline extend to the common prefix; show bare names in the listing
      const p = commonPrefix(full);
      if (p.length > word.length) return [[p], word];
    }
    return [full, word];
  }
}

type ReadResult = { kind: 'line'; line: string } | { kind: 'eof' } | { kind: 'interrupt' };

export async function runInteractive(ctx: Ctx): Promise<number> {
  let history = loadHistory();
  const completer = new Completer(ctx);
  let interrupts = 0;
  for (;;) {
    const r = await new Promise<ReadResult>((resolve) => {
      let settled = false;
      const rl = createInterface({
        input: process.stdin,
        output: process.stdout,
        terminal: true,
        prompt: 'ftp> ',
        history: history.slice(),
        historySize: HISTORY_SIZE,
        removeHistoryDuplicates: true,
        completer: (line: string, cb: (err: null, r: [string[], string]) => void) => {
          completer.complete(line).then(
            (res) => cb(null, res),
            () => cb(null, [[], line]),
          );
        },
      });
      const settle = (v: ReadResult): void => {
        if (settled) return;
        settled = true;
        history = (rl as unknown as { history: string[] }).history ?? history;
        rl.close();
        resolve(v);
      };
      rl.on('line', (line) => settle({ kind: 'line', line }));
      rl.on('SIGINT', () => {
        if (rl.line) {
          process.stdout.write('^C\n');
          settle({ kind: 'line', line: '' });
        } else {
          process.stdout.write('^C\n');
          settle({ kind: 'interrupt' });
        }
      });
      rl.on('close', () => settle({ kind: 'eof' }));
      rl.prompt();
    });
    if (r.kind === 'eof') {
      process.stdout.write('\n');
      return 0;
    }
    if (r.kind === 'interrupt') {
      interrupts++;
      if (interrupts >= 2) return 0;
      ctx.out('(Ctrl-C again or "quit" to leave)');
      continue;
    }
    interrupts = 0;
    const line = r.line.trim();
    if (!line) continue;
    saveHistoryLine(line, history);
    const outcome = await execLine(ctx, line);
    completer.clear();
    if (outcome === 'quit') return 0;
    if (ctx.conn.closed()) {
      ctx.err('Connection closed.');
      return 1;
    }
  }
}

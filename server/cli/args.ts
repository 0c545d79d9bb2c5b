// What every command shares: the common options, usage errors (exit 2), and the parsing of
// arguments that are passwords, keys and sizes.
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseSize } from '../../common/format.js';
import { parsePublicKeyLine } from '../users/store.js';

/** Options every command takes. */
export const COMMON = {
  config: { type: 'string' },
  users: { type: 'string' },
  homes: { type: 'string' },
  store: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A wrong command line: the message, and exit status 2. */
export class UsageError extends Error {}

export function fail(msg: string): never {
  throw new UsageError(msg);
}

/** The store location: --store, else $JAILSFTP_STORE, else the config's `store` (loadConfig). */
export function storeOverride(flag: string | undefined): string | undefined {
  return flag ?? (process.env.JAILSFTP_STORE || undefined);
}
export async function readPassword(fromStdin: boolean): Promise<string | undefined> {
  if (fromStdin) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    const pw = Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
    if (!pw) fail('empty password on stdin');
    return pw;
  }
  if (!process.stdin.isTTY) return undefined;
  const a = await askHidden('Password: ');
  const b = await askHidden('Retype password: ');
  if (a !== b) fail('passwords do not match');
  if (!a) fail('empty password');
  return a;
}

function askHidden(prompt: string): Promise<string> {
  return new Promise((res) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
    const out = rl as unknown as { _writeToOutput: (s: string) => void };
    process.stdout.write(prompt);
    out._writeToOutput = () => undefined; // echo nothing
    rl.question('', (answer) => {
      rl.close();
      process.stdout.write('\n');
      res(answer);
    });
  });
}

export function keyLine(arg: string): string {
  const text = existsSync(arg) ? readFileSync(arg, 'utf8').trim() : arg;
  try {
    return parsePublicKeyLine(text);
  } catch (e) {
    fail((e as Error).message);
  }
}

/** A size argument; a bad one is a usage error (exit 2). */
export function sizeArg(text: string): number {
  try {
    return parseSize(text);
  } catch (e) {
    fail((e as Error).message);
  }
}

// The exec hash command: `sha256sum|sha1sum|md5sum [PATH...]` with coreutils' output ("<hex>  <path>",
// exit 1 if any file failed), paths inside the jail; without paths, the hash of stdin (rclone's
// probe). No shell: quotes are honoured, anything else a shell would interpret refuses the command.
// Its arguments are bounded before any work; errors get their text from the one status map.
import { createHash } from 'node:crypto';
import type { ServerChannel } from 'ssh2';
import type { HashAlgorithm, Hashing } from '../fs/storage.js';
import { statusFromError } from '../sftp/status.js';

/** bytes of a command line (UTF-8): four paths of the longest length SFTP allows */
export const MAX_COMMAND_BYTES = 16 * 1024;
/** paths in one command */
export const MAX_HASH_PATHS = 256;

export const REFUSED =
  'jailsftpd: this server only offers SFTP (and sha256sum, sha1sum, md5sum of a file)\r\n';

const COMMANDS: Record<string, HashAlgorithm> = {
  sha256sum: 'sha256',
  sha1sum: 'sha1',
  md5sum: 'md5',
};

/** What coreutils prints where the status map's message is shorter. */
const COREUTILS_TEXT: Record<string, string> = { 'No such file': 'No such file or directory' };

/** Writes a message on stderr, exit status 1, and ends the channel. */
export function refuse(ch: ServerChannel, text: string): void {
  ch.stderr.write(text);
  ch.exit(1);
  ch.end();
}

/** Splits a command line as a POSIX shell would for plain words and quotes (no expansions). */
export function splitCommand(line: string): string[] | undefined {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const j = line.indexOf("'", i + 1);
      if (j < 0) return undefined;
      cur += line.slice(i + 1, j);
      i = j;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length && '"\\$`'.includes(line[j + 1]!)) j++;
        cur += line[j];
      }
      if (j >= line.length) return undefined;
      i = j;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else if (';&|<>`$()'.includes(c)) {
      return undefined; // no shell here
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** Runs one exec command line on the channel; resolves when the channel has its exit status. */
export async function runHashCommand(
  ch: ServerChannel,
  command: string,
  storage: Hashing,
): Promise<void> {
  if (Buffer.byteLength(command) > MAX_COMMAND_BYTES) {
    return refuse(ch, `jailsftpd: command line too long (limit ${MAX_COMMAND_BYTES} bytes)\r\n`);
  }
  const words = splitCommand(command);
  const alg = words && words.length > 0 ? COMMANDS[words[0]!] : undefined;
  if (!words || !alg) return refuse(ch, REFUSED);
  const paths = words.slice(1).filter((w) => w !== '--');
  if (paths.length > MAX_HASH_PATHS) {
    return refuse(ch, `jailsftpd: too many paths (limit ${MAX_HASH_PATHS})\r\n`);
  }
  if (paths.length === 0) return hashStdin(ch, alg);
  let status = 0;
  for (const p of paths) {
    try {
      const d = await hashFile(storage, p, alg);
      // as coreutils: a name with a backslash or newline is escaped, the line starts with one
      const esc = /[\\\n]/.test(p);
      const name = esc ? p.replace(/\\/g, '\\\\').replace(/\n/g, '\\n') : p;
      ch.write(`${esc ? '\\' : ''}${d.toString('hex')}  ${name}\n`);
    } catch (e) {
      status = 1;
      const { message } = statusFromError(e);
      ch.stderr.write(`${words[0]}: ${p}: ${COREUTILS_TEXT[message] ?? message}\n`);
    }
  }
  ch.exit(status);
  ch.end();
}

async function hashFile(storage: Hashing, path: string, alg: HashAlgorithm): Promise<Buffer> {
  const file = await storage.openRead(path);
  try {
    const [d] = await storage.hash(file, alg, 0, 0, 0);
    return d!;
  } finally {
    await storage.close(file);
  }
}

/** The hash of stdin, as `echo x | sha1sum`; nothing is written if the channel closes first. */
async function hashStdin(ch: ServerChannel, alg: HashAlgorithm): Promise<void> {
  const h = createHash(alg);
  ch.on('data', (d: Buffer) => h.update(d));
  const ended = await new Promise<boolean>((r) => {
    ch.once('end', () => r(true));
    ch.once('close', () => r(false));
  });
  if (!ended) return;
  ch.write(`${h.digest('hex')}  -\n`);
  ch.exit(0);
  ch.end();
}

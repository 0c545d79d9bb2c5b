// One SSH session channel: the "sftp" subsystem goes to our engine, exec "sha256sum|sha1sum|md5sum
// PATH..." to the hash command; a shell, a pty and other commands are refused with a message.
import type { Session as SshSession, ServerChannel } from 'ssh2';
import { SftpEngine } from '../sftp/engine.js';
import { HandleTable } from '../sftp/handles.js';
import type { UserFs, HashAlgorithm } from '../fs/userfs.js';
import { log } from '../log.js';
import { createHash } from 'node:crypto';

export interface SessionEnv {
  user: string;
  fs: () => UserFs;
  maxHandles: number;
  /** reserves a session slot for the user; returns an error text when over the limit */
  openSession(): string | undefined;
  closeSession(): void;
  activity(): void;
  /** runs fn when the connection closes, however it closes */
  onClose(fn: () => void): void;
}

const REFUSED =
  'jailsftpd: this server only offers SFTP (and sha256sum, sha1sum, md5sum of a file)\r\n';

function refuse(ch: ServerChannel, text: string): void {
  ch.stderr.write(text);
  ch.exit(1);
  ch.end();
}

export function serveSession(session: SshSession, env: SessionEnv): void {
  // a pty is granted (nothing is allocated: nothing runs), so that `ssh -t` still reaches the
  // shell or exec refusal below and shows its message instead of "PTY allocation request failed"
  session.on('pty', (accept) => accept?.());
  session.on('env', (_accept, reject) => reject?.());
  session.on('shell', (accept) => refuse(accept(), REFUSED));

  session.on('subsystem', (accept, reject, info) => {
    if (info.name !== 'sftp') return reject();
    const ch = accept(); // at once: data sent before accept would be lost
    const over = env.openSession();
    if (over) return refuse(ch, `jailsftpd: ${over}\r\n`);
    ch.on('data', env.activity);
    const fs = env.fs();
    const engine = new SftpEngine(
      ch,
      { fs, handles: new HandleTable(env.maxHandles), user: env.user },
      {
        onProtocolError: (reason) => log('sftp.protocol_error', { user: env.user, reason }),
        onClosed: () => env.closeSession(),
      },
    );
    env.onClose(() => engine.abort());
  });

  session.on('exec', (accept, _reject, info) => {
    const ch = accept();
    const over = env.openSession();
    if (over) return refuse(ch, `jailsftpd: ${over}\r\n`);
    env.activity();
    void runHash(ch, info.command, env.fs())
      .catch((e: unknown) => refuse(ch, `jailsftpd: ${(e as Error).message}\r\n`))
      .finally(() => env.closeSession());
  });
}

const COMMANDS: Record<string, HashAlgorithm> = {
  sha256sum: 'sha256',
  sha1sum: 'sha1',
  md5sum: 'md5',
};

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

/** `sha256sum PATH...` with coreutils' output: "<hex>  <path>", exit 1 if any file failed. */
async function runHash(ch: ServerChannel, command: string, fs: UserFs): Promise<void> {
  const words = splitCommand(command);
  const alg = words && words.length > 0 ? COMMANDS[words[0]!] : undefined;
  if (!words || !alg) return refuse(ch, REFUSED);
  const paths = words.slice(1).filter((w) => w !== '--');
  if (paths.length === 0) {
    // hash of stdin, as `echo x | sha1sum` (rclone probes the command like this)
    const h = createHash(alg);
    ch.on('data', (d: Buffer) => h.update(d));
    await new Promise<void>((r) => ch.once('end', () => r()));
    ch.write(`${h.digest('hex')}  -\n`);
    ch.exit(0);
    ch.end();
    return;
  }
  let status = 0;
  for (const p of paths) {
    try {
      const file = await fs.openRead(p);
      try {
        const [d] = await fs.hash(file, alg, 0, 0, 0);
        // as coreutils: a name with a backslash or newline is escaped, the line starts with one
        const esc = /[\\\n]/.test(p);
        const name = esc ? p.replace(/\\/g, '\\\\').replace(/\n/g, '\\n') : p;
        ch.write(`${esc ? '\\' : ''}${d!.toString('hex')}  ${name}\n`);
      } finally {
        await fs.close(file);
      }
    } catch (e) {
      status = 1;
      const code = (e as NodeJS.ErrnoException).code;
      const why =
        code === 'EISDIR'
          ? 'Is a directory'
          : code === 'ENOENT' || code === 'ENOTDIR'
            ? 'No such file or directory'
            : (e as Error).message;
      ch.stderr.write(`${words[0]}: ${p}: ${why}\n`);
    }
  }
  ch.exit(status);
  ch.end();
}

// Connecting and logging in: host key check (trust on first use), keys, ssh-agent, password, and a
// verification code (TOTP) when the server asks one after the key or password.
import { existsSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type {
  AnyAuthMethod,
  AuthenticationType,
  Client,
  ParsedKey,
  Prompt,
  SFTPWrapper,
} from 'ssh2';
import SftpClient from 'ssh2-sftp-client';
import { CmdError, Interrupted, describe } from './errors.js';
import {
  addHostKey,
  checkHostKey,
  fingerprint,
  hostPattern,
  keyType,
  knownHostsFiles,
  ownKnownHosts,
} from './known-hosts.js';
import { askConfirm, askInput, askPassword } from './prompts.js';
import { connectTcp } from './socket.js';
import { CLIENT_CHANNEL } from '../common/ssh-channel.js';
import { UPLOAD_DIGESTS_ENV } from '../common/upload-digests.js';

export interface LoginOptions {
  host: string;
  port: number;
  user?: string;
  identity?: string;
  /** accept a new (never a changed) host key without asking */
  yes: boolean;
  /** questions may be asked on the terminal */
  interactive: boolean;
  out: (line: string) => void;
  err: (line: string) => void;
}

export interface Connection {
  sftpClient: SftpClient;
  ssh: Client;
  sftp: SFTPWrapper;
  /** the TCP socket under the SSH connection: we open it, so that we own it */
  sock: Socket;
  user: string;
  /** true once the SSH connection is gone */
  closed(): boolean;
  end(): Promise<void>;
}

/** Exit status for a failed login or refused host, as OpenSSH's 255. */
export class LoginError extends CmdError {}

function keyLabel(blob: Buffer): string {
  return keyType(blob)
    .replace(/^ssh-/, '')
    .replace(/^ecdsa-sha2-.*/, 'ECDSA')
    .toUpperCase();
}

async function loadKey(
  file: string,
  o: LoginOptions,
  explicit: boolean,
): Promise<ParsedKey | undefined> {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    if (explicit) o.err(`Warning: identity file ${file}: ${describe(err)}`);
    return undefined;
  }
  let parsed = ssh2.utils.parseKey(data);
  if (parsed instanceof Error && /encrypted|passphrase/i.test(parsed.message)) {
    if (!o.interactive) {
      o.err(`Skipping encrypted key ${file} (no terminal to ask for its passphrase)`);
      return undefined;
    }
    for (let tries = 0; tries < 3 && parsed instanceof Error; tries++) {
      const pass = await askPassword(`Enter passphrase for key '${file}':`);
      if (!pass) return undefined;
      parsed = ssh2.utils.parseKey(data, pass);
      if (parsed instanceof Error) o.err('Bad passphrase, try again.');
    }
  }
  if (parsed instanceof Error) {
    if (explicit) o.err(`Warning: cannot use key ${file}: ${parsed.message}`);
    return undefined;
  }
  return Array.isArray(parsed) ? parsed[0] : parsed;
}

type SftpCallback = (err: Error | undefined, sftp: SFTPWrapper) => void;

/**
 * Makes the SFTP channel that ssh2-sftp-client opens say, before the subsystem starts, that this
 * client verifies its uploads (an env request, common/upload-digests.ts): jailsftpd then hashes
 * them as they arrive and answers the `sha256sum` after each put at once. Other servers ignore the
 * variable or refuse the request; after a refusal the channel is opened again without it.
 */
function askUploadDigests(ssh: Client): void {
  const open = ssh.sftp.bind(ssh) as (...a: [object, SftpCallback] | [SftpCallback]) => Client;
  ssh.sftp = ((cb: SftpCallback) =>
    open({ [UPLOAD_DIGESTS_ENV]: '1' }, (err, sftp) => {
      if (err && /environment/i.test(err.message)) open(cb);
      else cb(err, sftp);
    })) as Client['sftp'];
}

export async function login(o: LoginOptions): Promise<Connection> {
  let closed = false;
  let hostProblem: string | undefined;
  let interrupted = false;
  const sftpClient = new SftpClient('jailsftp', {
    error: () => undefined,
    end: () => {
      closed = true;
    },
    close: () => {
      closed = true;
    },
  });
  // ssh2-sftp-client's ssh2 Client (a plain property its type declarations leave out)
  const ssh = (sftpClient as unknown as { client: Client }).client;
  askUploadDigests(ssh);
  let user = o.user;

  const hostVerifier = (key: Buffer, verify: (ok: boolean) => void): void => {
    const st = checkHostKey(knownHostsFiles(), o.host, o.port, key);
    const hostName = hostPattern(o.host, o.port);
    if (st.status === 'known') return verify(true);
    if (st.status === 'changed' || st.status === 'revoked') {
      const bar = '@'.repeat(59);
      o.err(bar);
      o.err(
        st.status === 'changed'
          ? '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @'
          : '@       WARNING: REVOKED HOST KEY DETECTED!               @',
      );
      o.err(bar);
      o.err('IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!');
      o.err(`The ${keyLabel(key)} key sent by ${hostName} is ${fingerprint(key)}.`);
      o.err(`It does not match the key remembered in ${st.file}:${st.line}.`);
      o.err(`Remove that line if the server's key really changed.`);
      hostProblem = `Host key verification failed: the key of ${hostName} has changed`;
      return verify(false);
    }
    const remember = (): void => {
      addHostKey(ownKnownHosts(), o.host, o.port, key);
      o.err(
        `Warning: Permanently added '${hostName}' (${keyLabel(key)}) to the list of known hosts.`,
      );
      verify(true);
    };
    if (o.yes) return remember();
    const intro = [
      `The authenticity of host '${hostName}' can't be established.`,
      `${keyLabel(key)} key fingerprint is ${fingerprint(key)}.`,
    ];
    if (!o.interactive) {
      for (const l of intro) o.err(l);
      hostProblem = `Host key verification failed: unknown host ${hostName} (use --yes to trust it)`;
      return verify(false);
    }
    for (const l of intro) o.out(l);
    askConfirm('Are you sure you want to continue connecting?', false).then(
      (ok) => {
        if (ok) return remember();
        hostProblem = 'Host key verification failed.';
        verify(false);
      },
      () => {
        interrupted = true;
        verify(false);
      },
    );
  };

  // The login methods, tried in order: agent, keys, password.
  let steps: (() => Promise<AnyAuthMethod | undefined>)[] | undefined;
  let passwordTries = 0;
  const buildSteps = (): (() => Promise<AnyAuthMethod | undefined>)[] => {
    const list: (() => Promise<AnyAuthMethod | undefined>)[] = [];
    const sock = process.env.SSH_AUTH_SOCK;
    if (sock && !o.identity)
      list.push(async () => ({ type: 'agent', username: user!, agent: sock }));
    const files = o.identity
      ? [o.identity]
      : ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => join(homedir(), '.ssh', f));
    for (const f of files) {
      if (!o.identity && !existsSync(f)) continue;
      list.push(async () => {
        const key = await loadKey(f, o, f === o.identity);
        return key ? { type: 'publickey', username: user!, key } : undefined;
      });
    }
    const envPass = process.env.JAILSFTP_PASSWORD;
    if (envPass !== undefined) {
      list.push(async () => ({ type: 'password', username: user!, password: envPass }));
    } else if (o.interactive) {
      const ask = async (): Promise<AnyAuthMethod | undefined> => {
        if (passwordTries > 0) o.err('Permission denied, please try again.');
        passwordTries++;
        const password = await askPassword('Password:');
        return { type: 'password', username: user!, password };
      };
      list.push(ask, ask, ask);
    }
    return list;
  };

  // The second factor (TOTP): after a key or password the server asks keyboard-interactive for a
  // "Verification code"; JAILSFTP_TOTP gives it in batch mode (one try), else it is asked (three).
  let codeTries = 0;
  const codeStep = (): AnyAuthMethod | false => {
    const envCode = process.env.JAILSFTP_TOTP;
    if (codeTries >= (envCode !== undefined ? 1 : 3)) return false;
    if (envCode === undefined && !o.interactive)
      throw new LoginError('the server asks for a verification code: set JAILSFTP_TOTP');
    if (codeTries > 0) o.err('Permission denied, please try again.');
    codeTries++;
    const answer = async (p: Prompt): Promise<string> => {
      if (/code/i.test(p.prompt) && envCode !== undefined) return envCode;
      if (/password/i.test(p.prompt) && process.env.JAILSFTP_PASSWORD !== undefined)
        return process.env.JAILSFTP_PASSWORD;
      return askPassword(p.prompt.trim().replace(/:?$/, ':'));
    };
    return {
      type: 'keyboard-interactive',
      username: user!,
      prompt(_name, _instructions, _lang, prompts, finish) {
        (async () => {
          const answers: string[] = [];
          for (const p of prompts) answers.push(await answer(p));
          return answers;
        })().then(finish, (err: unknown) => {
          if (err instanceof Interrupted) interrupted = true;
          finish([]);
        });
      },
    };
  };

  const authHandler = (
    methodsLeft: AuthenticationType[] | null,
    partial: boolean | null,
    next: (m: AnyAuthMethod | false) => void,
  ): void => {
    const run = async (): Promise<AnyAuthMethod | false> => {
      if (interrupted) return false;
      if (partial && methodsLeft?.includes('keyboard-interactive')) return codeStep();
      // a wrong code: the server still holds the first factor and asks for another code
      if (codeTries > 0 && methodsLeft?.length === 1 && methodsLeft[0] === 'keyboard-interactive')
        return codeStep();
      if (!steps) {
        o.out(`server ${o.host} connected`);
        if (!user) {
          if (!o.interactive) throw new LoginError('no user name given (use USER@HOST)');
          user = (await askInput(`User (${o.host}):`)).trim();
          if (!user) throw new LoginError('no user name given');
        }
        steps = buildSteps();
      }
      while (steps.length > 0) {
        const m = await steps.shift()!();
        if (!m) continue;
        if (methodsLeft && !methodsLeft.includes(m.type === 'agent' ? 'publickey' : m.type))
          continue;
        return m;
      }
      return false;
    };
    run().then(next, (err: unknown) => {
      if (err instanceof Interrupted) interrupted = true;
      else hostProblem = describe(err);
      next(false);
    });
  };

  const sock = connectTcp(o.host, o.port);
  let sftp: SFTPWrapper;
  try {
    sftp = await sftpClient.connect({
      sock,
      host: o.host,
      port: o.port,
      username: o.user ?? '',
      hostVerifier,
      authHandler: authHandler as never,
      readyTimeout: 0,
      keepaliveInterval: 15000,
      keepaliveCountMax: 4,
      // larger SSH packets and window (our ssh2 patch): fewer packets per byte, no window stalls
      ...CLIENT_CHANNEL,
    });
  } catch (err) {
    if (interrupted) throw new Interrupted();
    if (hostProblem) throw new LoginError(hostProblem);
    const msg = describe(err).replace(/^[a-zA-Z]+(->|: )/, '');
    if (/authentication methods failed/i.test(msg)) throw new LoginError('Login failed!', true);
    throw new LoginError(`cannot connect to ${o.host} port ${o.port}: ${msg}`);
  }
  o.out('Login successful!');
  return {
    sftpClient,
    ssh,
    sftp,
    sock,
    user: user ?? '',
    closed: () => closed,
    async end() {
      closed = true;
      await sftpClient.end().catch(() => undefined);
    },
  };
}

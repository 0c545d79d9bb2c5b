// One SSH session channel: the "sftp" subsystem goes to our engine, exec "sha256sum|sha1sum|md5sum
// PATH..." to the hash command (exec-hash.ts); a shell, a pty and other commands are refused with a
// message. Each session takes a slot in the account layer (asynchronously: in a cluster the slots
// are counted across nodes) and gives it back when its files are closed; nothing thrown here may
// escape into ssh2's event handlers.
import type { Session as SshSession, ServerChannel } from 'ssh2';
import type { AccountSession, Login } from '../account/accounts.js';
import { SftpEngine } from '../sftp/engine.js';
import { HandleTable } from '../sftp/handles.js';
import { debug, log } from '../log.js';
import { asksUploadDigests, UPLOAD_DIGESTS_ENV } from '../../common/upload-digests.js';
import { refuse, REFUSED, runHashCommand, splitCommand } from './exec-hash.js';

export interface SessionEnv {
  /** the connection's login: the user's storage and session slots */
  login: Login;
  maxHandles: number;
  activity(): void;
  /** each answered SFTP request (metrics) */
  onRequest?(op: string, status: string, seconds: number): void;
  /** a session refused by a limit (audit) */
  onRefused?(status: string): void;
}

/** Runs a channel event handler; a bug in it ends that channel only, with a log line. */
function guarded(what: string, user: string, ch: ServerChannel | undefined, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    log('bug.session', { user, what, error: e instanceof Error ? (e.stack ?? e.message) : e });
    if (ch) closeChannel(ch);
  }
}

/** Closes a channel whatever state its connection is in (a closer must never throw). */
function closeChannel(ch: ServerChannel): void {
  try {
    ch.close();
  } catch (e) {
    debug('channel.close_error', { error: (e as Error).message });
  }
}

function onChannelError(ch: ServerChannel, user: string, kind: string): void {
  const report = (e: Error): void => debug('channel.error', { user, kind, error: e.message });
  ch.on('error', report);
  ch.stderr.on('error', report);
}

export function serveSession(session: SshSession, env: SessionEnv): void {
  const user = env.login.user;
  // a pty is granted (nothing is allocated: nothing runs), so that `ssh -t` still reaches the
  // shell or exec refusal below and shows its message instead of "PTY allocation request failed"
  session.on('pty', (accept) => accept?.());
  // one variable is understood (no process runs, so no other has any use): a client that verifies
  // its uploads says so (common/upload-digests.ts)
  session.on('env', (accept, reject, info) => {
    if (info.key !== UPLOAD_DIGESTS_ENV) return reject?.();
    if (asksUploadDigests(info.val)) env.login.asksDigests = true;
    accept?.();
  });
  session.on('shell', (accept) => {
    const ch = accept();
    guarded('shell', user, ch, () => {
      onChannelError(ch, user, 'shell');
      refuse(ch, REFUSED);
    });
  });

  session.on('subsystem', (accept, reject, info) => {
    if (info.name !== 'sftp') return reject();
    const ch = accept(); // at once: data sent before accept would be lost
    guarded('sftp', user, ch, () => startSftp(ch, env));
  });

  session.on('exec', (accept, _reject, info) => {
    const ch = accept();
    guarded('exec', user, ch, () => startExec(ch, info.command, env));
  });
}

function startSftp(ch: ServerChannel, env: SessionEnv): void {
  const user = env.login.user;
  onChannelError(ch, user, 'sftp');
  // the slot may be counted across nodes (async): the channel buffers what the client sends meanwhile
  let engine: SftpEngine | undefined;
  let closed = false;
  ch.once('close', () => (closed = true));
  void env.login
    .openSession('sftp', () => {
      engine?.abort();
      closeChannel(ch);
    })
    .then((slot) =>
      guarded('sftp', user, ch, () => {
        if (typeof slot === 'string') {
          env.onRefused?.(slot);
          return refuse(ch, `jailsftpd: ${slot}\r\n`);
        }
        if (closed) return slot.end(); // the client left while the slot was being counted
        ch.on('data', env.activity);
        engine = new SftpEngine(
          ch,
          { fs: env.login.storage, handles: new HandleTable(env.maxHandles), user },
          {
            onProtocolError: (reason) => log('sftp.protocol_error', { user, reason }),
            onBug: (e) => log('bug.sftp', { user, error: e instanceof Error ? (e.stack ?? e) : e }),
            onClosed: () => slot.end(),
            onRequest: env.onRequest,
          },
        );
      }),
    );
}

function startExec(ch: ServerChannel, command: string, env: SessionEnv): void {
  const user = env.login.user;
  onChannelError(ch, user, 'exec');
  void env.login
    .openSession('exec', () => closeChannel(ch))
    .then((slot: AccountSession | string) => {
      if (typeof slot === 'string') {
        env.onRefused?.(slot);
        return guarded('exec', user, ch, () => refuse(ch, `jailsftpd: ${slot}\r\n`));
      }
      env.activity();
      // a client that checks its uploads with sha256sum (a script running it after each put): the
      // next uploads of its connection are hashed as they arrive
      if (splitCommand(command)?.[0] === 'sha256sum') env.login.asksDigests = true;
      return runHashCommand(ch, command, env.login.storage)
        .catch((e: unknown) =>
          guarded('exec', user, ch, () => refuse(ch, `jailsftpd: ${(e as Error).message}\r\n`)),
        )
        .finally(() => slot.end());
    })
    .catch((e: unknown) => log('bug.exec', { user, error: (e as Error).message }));
}

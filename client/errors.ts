// User-facing errors: short, human, never a stack trace.
import { Status } from '../common/wire.js';

/** A failure a command reports to the user; `bare` messages are printed without the command name. */
export class CmdError extends Error {
  constructor(
    message: string,
    readonly bare = false,
  ) {
    super(message);
  }
}

/** Thrown when the user interrupted (Ctrl-C) the running command. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

const STATUS: Record<number, string> = {
  [Status.EOF]: 'End of file',
  [Status.NO_SUCH_FILE]: 'No such file or directory',
  [Status.PERMISSION_DENIED]: 'Permission denied',
  [Status.FAILURE]: 'Failure',
  [Status.BAD_MESSAGE]: 'Bad message',
  [Status.NO_CONNECTION]: 'No connection',
  [Status.CONNECTION_LOST]: 'Connection lost',
  [Status.OP_UNSUPPORTED]: 'Operation not supported',
};

const LOCAL: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EEXIST: 'File exists',
  ENOTEMPTY: 'Directory not empty',
  ENOSPC: 'No space left on device',
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset',
  ETIMEDOUT: 'Connection timed out',
  ENOTFOUND: 'Unknown host',
  EHOSTUNREACH: 'Host unreachable',
};

/** SFTP status code of an ssh2 error, if it is one. */
export function sftpStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** One short line describing what went wrong. */
export function describe(err: unknown): string {
  if (err instanceof CmdError || err instanceof Interrupted) return err.message;
  const e = (err ?? {}) as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (typeof e.code === 'number') {
    const generic = STATUS[e.code];
    // OpenSSH sends only the generic text; our server sends useful ones ("quota exceeded: …").
    if (e.code === Status.FAILURE && message && message !== 'Failure') return message;
    if (e.code > Status.OP_UNSUPPORTED && message) return message;
    return generic ?? message;
  }
  if (typeof e.code === 'string' && LOCAL[e.code]) return LOCAL[e.code]!;
  if (/No response from server|Not connected|channel.*closed/i.test(message))
    return 'Connection lost';
  return message;
}

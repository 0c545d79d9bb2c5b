// The one place where errors become SFTP status codes and messages.
// v3 clients such as OpenSSH print only the code's generic text; our client prints the message.
import { DecodeError } from '../../common/wire.js';
import { Status } from '../../common/wire.js';
import { errorCode, errorText } from '../fs/errors.js';

export interface StatusReply {
  code: Status;
  message: string;
}

/** Status codes of the system errors storage raises; their texts are errorText's (fs/errors.ts). */
const byErrno: Readonly<Record<string, Status>> = {
  ENOENT: Status.NO_SUCH_FILE,
  ENOTDIR: Status.NO_SUCH_FILE,
  ELOOP: Status.NO_SUCH_FILE,
  ENAMETOOLONG: Status.NO_SUCH_FILE,
  ENXIO: Status.NO_SUCH_FILE,
  EACCES: Status.PERMISSION_DENIED,
  EPERM: Status.PERMISSION_DENIED,
  EROFS: Status.PERMISSION_DENIED,
  ENOTALLOWED: Status.PERMISSION_DENIED,
};

/** Maps anything thrown by a handler to a status reply. Never throws. */
export function statusFromError(e: unknown): StatusReply {
  if (e instanceof ProtocolError) return { code: e.status, message: e.message };
  if (e instanceof DecodeError) return { code: Status.BAD_MESSAGE, message: e.message };
  const code = errorCode(e);
  const status = code === undefined ? undefined : byErrno[code];
  return { code: status ?? Status.FAILURE, message: errorText(e) };
}

/** An error raised by the protocol layer itself, with its status. */
export class ProtocolError extends Error {
  constructor(
    readonly status: Status,
    message: string,
  ) {
    super(message);
  }
}

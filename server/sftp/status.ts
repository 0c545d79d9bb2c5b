// The one place where errors become SFTP status codes and messages.
// v3 clients such as OpenSSH print only the code's generic text; our client prints the message.
import { DecodeError } from '../../common/wire.js';
import { Status } from '../../common/wire.js';

export interface StatusReply {
  code: Status;
  message: string;
}

const byErrno: Record<string, StatusReply> = {
  ENOENT: { code: Status.NO_SUCH_FILE, message: 'No such file' },
  ENOTDIR: { code: Status.NO_SUCH_FILE, message: 'No such file' },
  ELOOP: { code: Status.NO_SUCH_FILE, message: 'No such file' },
  ENAMETOOLONG: { code: Status.NO_SUCH_FILE, message: 'File name too long' },
  EACCES: { code: Status.PERMISSION_DENIED, message: 'Permission denied' },
  EPERM: { code: Status.PERMISSION_DENIED, message: 'Permission denied' },
  EROFS: { code: Status.PERMISSION_DENIED, message: 'Read-only file system' },
  EEXIST: { code: Status.FAILURE, message: 'File exists' },
  EISDIR: { code: Status.FAILURE, message: 'Is a directory' },
  ENOTEMPTY: { code: Status.FAILURE, message: 'Directory not empty' },
  ENOSPC: { code: Status.FAILURE, message: 'No space left on device' },
  EDQUOT: { code: Status.FAILURE, message: 'Disk quota exceeded' },
  EFBIG: { code: Status.FAILURE, message: 'File too large' },
  EINVAL: { code: Status.FAILURE, message: 'Invalid argument' },
  EBADF: { code: Status.FAILURE, message: 'Bad file handle' },
  EBUSY: { code: Status.FAILURE, message: 'Device or resource busy' },
  EXDEV: { code: Status.FAILURE, message: 'Cross-device link' },
  ENXIO: { code: Status.NO_SUCH_FILE, message: 'No such device' },
  EMFILE: { code: Status.FAILURE, message: 'Too many open files' },
  ENFILE: { code: Status.FAILURE, message: 'Too many open files' },
  EIO: { code: Status.FAILURE, message: 'Input/output error' },
};

/** Maps anything thrown by a handler to a status reply. Never throws. */
export function statusFromError(e: unknown): StatusReply {
  if (e instanceof ProtocolError) return { code: e.status, message: e.message };
  if (e instanceof DecodeError) return { code: Status.BAD_MESSAGE, message: e.message };
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  if (code === 'EQUOTA') return { code: Status.FAILURE, message: (e as Error).message };
  if (code === 'ENOTALLOWED')
    return { code: Status.PERMISSION_DENIED, message: (e as Error).message };
  // EBADF from our storage layer carries a precise message ("file not open for writing")
  if (code === 'EBADF' && e instanceof Error && !('syscall' in e)) {
    return { code: Status.FAILURE, message: e.message };
  }
  if (typeof code === 'string' && byErrno[code]) return byErrno[code];
  return { code: Status.FAILURE, message: 'Failure' };
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

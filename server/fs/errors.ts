// Errors the storage layer raises besides the system's own (ENOENT, EACCES, ...), and the one short
// text for each error that users and logs see (never a real path on disk).
import { formatBytes } from '../../common/format.js';

/** A write or resize that the user's quota cannot hold. */
export class QuotaError extends Error {
  readonly code = 'EQUOTA';
  constructor(readonly free: number) {
    super(`quota exceeded: ${formatBytes(free)} free`);
  }
}

/** An operation this server does not allow (e.g. SYMLINK, or opening a device). */
export class NotAllowedError extends Error {
  readonly code = 'ENOTALLOWED';
}

/** A filesystem call of a home that could not even start in time: its filesystem hangs (gate.ts). */
export class FsNotRespondingError extends Error {
  readonly code = 'ENOTRESPONDING';
  constructor() {
    super('filesystem not responding');
  }
}

/** An errno-style error, as node's fs raises them. */
export function errno(code: string, message: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(message);
  e.code = code;
  return e;
}

/** The short text of each system error code that storage operations raise. */
export const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'No such file',
  ENOTDIR: 'No such file',
  ELOOP: 'No such file',
  ENAMETOOLONG: 'File name too long',
  EACCES: 'Permission denied',
  EPERM: 'Permission denied',
  EROFS: 'Read-only file system',
  EEXIST: 'File exists',
  EISDIR: 'Is a directory',
  ENOTEMPTY: 'Directory not empty',
  ENOSPC: 'No space left on device',
  EDQUOT: 'Disk quota exceeded',
  EFBIG: 'File too large',
  EINVAL: 'Invalid argument',
  EBADF: 'Bad file handle',
  EBUSY: 'Device or resource busy',
  EXDEV: 'Cross-device link',
  ENXIO: 'No such device',
  EMFILE: 'Too many open files',
  ENFILE: 'Too many open files',
  EIO: 'Input/output error',
};

/** The code of an error (errno-style, EQUOTA, ENOTALLOWED), if it has one. */
export function errorCode(e: unknown): string | undefined {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** What a user or a log line is told about a storage error: our own messages, else the code's text. */
export function errorText(e: unknown): string {
  const code = errorCode(e);
  if (code === 'EQUOTA' || code === 'ENOTALLOWED' || code === 'ENOTRESPONDING')
    return (e as Error).message;
  // EBADF and EMFILE raised by our storage layer (no system call) carry a precise message:
  // "file not open for writing", "too many open handles for this user (limit 2048)"
  if ((code === 'EBADF' || code === 'EMFILE') && e instanceof Error && !('syscall' in e))
    return e.message;
  if (code && ERRNO_TEXT[code]) return ERRNO_TEXT[code];
  return 'Failure';
}

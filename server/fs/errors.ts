// Errors the storage layer raises besides the system's own (ENOENT, EACCES, ...).
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

/** An errno-style error, as node's fs raises them. */
export function errno(code: string, message: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(message);
  e.code = code;
  return e;
}

// How many files and directories may be open at once: per user (all of its sessions together) and
// in the whole server, so that no user can take the descriptors every other session needs.
//
// Each session's handle table has its own limit (limits.maxHandles), but a user may hold many
// sessions (limits.maxSessionsPerUser): 32 sessions x 1024 handles, and two descriptors per open
// directory, passed the server's descriptor limit, after which nobody could log in or open a file.
import { readFileSync } from 'node:fs';
import { errno } from './errors.js';

/** open handles one user may hold across all its sessions */
export const HANDLES_PER_USER = 2048;

/** Half of what is left of the soft descriptor limit after a reserve for sockets and logins. */
function serverBudget(): number {
  let soft = 1024;
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) soft = Number(m[1]);
  } catch {
    /* keep the default */
  }
  return Math.max(256, Math.floor((soft - 1024) / 2));
}

export const HANDLES_TOTAL = serverBudget();

let total = 0;
const perUser = new WeakMap<object, number>();

/** Counts one more open handle of `owner` (one object per user), or throws EMFILE. */
export function takeHandle(owner: object): void {
  const mine = perUser.get(owner) ?? 0;
  if (mine >= HANDLES_PER_USER)
    throw errno('EMFILE', `too many open handles for this user (limit ${HANDLES_PER_USER})`);
  if (total >= HANDLES_TOTAL)
    throw errno('EMFILE', `too many open handles in the server (limit ${HANDLES_TOTAL})`);
  perUser.set(owner, mine + 1);
  total++;
}

export function releaseHandle(owner: object): void {
  perUser.set(owner, Math.max(0, (perUser.get(owner) ?? 1) - 1));
  total = Math.max(0, total - 1);
}

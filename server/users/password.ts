// argon2id password hashes (PHC strings). Unknown users are checked against a dummy hash made with
// the same parameters, so that they cost the same time as a wrong password.
import argon2 from 'argon2';
import type { Argon2Params } from '../config.js';

/**
 * Verifications that run at once (each holds a pool thread and memoryCost of memory): libuv's
 * default pool of 4, as before the command grew the pool to 16 for homes on network filesystems
 * (server/threadpool.ts); more would only add memory under a login flood on the same cores.
 */
const AT_ONCE = 4;
let running = 0;
const waiting: (() => void)[] = [];

async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= AT_ONCE) await new Promise<void>((r) => waiting.push(r));
  else running++;
  try {
    return await fn();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

export function hashPassword(password: string, p: Argon2Params): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id, ...p });
}

export class PasswordChecker {
  private dummy: Promise<string>;
  constructor(private readonly params: Argon2Params) {
    this.dummy = hashPassword(`unknown-${Math.random()}`, params);
  }

  /** True when hash is a valid argon2 hash of password; an absent hash costs the same and fails. */
  async verify(hash: string | undefined, password: string): Promise<boolean> {
    const h = hash ?? (await this.dummy);
    try {
      const ok = await slot(() => argon2.verify(h, password));
      return ok && hash !== undefined;
    } catch {
      return false;
    }
  }
}

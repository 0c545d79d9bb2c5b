// argon2id password hashes (PHC strings). Unknown users are checked against a dummy hash made with
// the same parameters, so that they cost the same time as a wrong password.
import argon2 from 'argon2';
import type { Argon2Params } from '../config.js';

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
      const ok = await argon2.verify(h, password);
      return ok && hash !== undefined;
    } catch {
      return false;
    }
  }
}

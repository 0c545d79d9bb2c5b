// The second factor: TOTP (RFC 6238 through `otpauth`: SHA-1, 6 digits, 30 s steps, issuer
// jailsftp). A secret per user in the record; codes checked with a window of one step either side,
// each step accepted at most once per user (no replay).
import { Secret, TOTP } from 'otpauth';

export const TOTP_ISSUER = 'jailsftp';
/** the keyboard-interactive prompt for the code (our client and test drivers look for it) */
export const CODE_PROMPT = 'Verification code: ';

/** What the user record holds when TOTP is on. */
export interface TotpRecord {
  /** base32 secret */
  secret: string;
}

function totpFor(user: string, secret: string): TOTP {
  return new TOTP({
    issuer: TOTP_ISSUER,
    label: user,
    algorithm: 'SHA1',
    digits: 6,
    period: 30,
    secret: Secret.fromBase32(secret),
  });
}

/** A new secret (160 bits) for the user, and the otpauth:// URI an authenticator app reads. */
export function newTotp(user: string): { record: TotpRecord; uri: string } {
  const secret = new Secret({ size: 20 }).base32;
  return { record: { secret }, uri: totpFor(user, secret).toString() };
}

/** The code's time step if it is valid now (±1 step), else null. */
export function codeStep(
  user: string,
  secret: string,
  code: string,
  now = Date.now(),
): number | null {
  const token = code.trim();
  if (!/^\d{6}$/.test(token)) return null;
  const t = totpFor(user, secret);
  const delta = t.validate({ token, timestamp: now, window: 1 });
  return delta === null ? null : t.counter({ timestamp: now }) + delta;
}

/**
 * The last accepted step per user, so that a code is used once. Kept in memory: a restart forgets
 * it (a code seen just before a restart could be used again within its 90 s window), and in a
 * cluster each node keeps its own (a code could be used once on each node); a shared store would
 * keep it with the record.
 */
export class UsedSteps {
  private readonly last = new Map<string, number>();

  /** Accepts the step for the user when it is newer than the last accepted one. */
  take(user: string, step: number): boolean {
    const prev = this.last.get(user);
    if (prev !== undefined && step <= prev) return false;
    this.last.set(user, step);
    // entries older than the window guard nothing: keep the map small
    if (this.last.size > 10000)
      for (const [u, s] of this.last) if (s < step - 2) this.last.delete(u);
    return true;
  }
}

// The second factor: TOTP (RFC 6238 through `otpauth`: SHA-1, 6 digits, 30 s steps, issuer
// jailsftp). A secret per user in the record; codes checked with a window of one step either side,
// each step accepted at most once per user (no replay: server/account/totp-steps.ts).
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

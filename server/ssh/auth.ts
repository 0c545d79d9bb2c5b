// Authentication: password and keyboard-interactive (argon2id), and public keys (signature checked
// against the user's authorized keys). Every refusal looks the same, whatever its reason.
import ssh2, { type AuthContext, type ParsedKey } from 'ssh2';
import { debug, log } from '../log.js';
import type { PasswordChecker } from '../users/password.js';
import type { Accounts } from '../account/accounts.js';
import type { Attempt } from '../account/events.js';
import type { UserRecord } from '../account/store.js';
import type { LoginDefence } from './defence.js';

const METHODS: AuthContext['method'][] = ['publickey', 'password', 'keyboard-interactive'];

export interface AuthState {
  addr: string;
  /** the connection's id (audit) */
  session: string;
  failures: number;
  user?: UserRecord;
}

function parsedKey(line: string): ParsedKey | undefined {
  const p = ssh2.utils.parseKey(line);
  const k = Array.isArray(p) ? p[0] : p;
  return k && !(k instanceof Error) ? k : undefined;
}

export class Authenticator {
  constructor(
    private readonly accounts: Accounts,
    private readonly passwords: PasswordChecker,
    private readonly defence: LoginDefence,
    private readonly maxAttempts: number,
    /** accept ssh-rsa (SHA-1) signatures from clients */
    private readonly legacy = false,
    private readonly onAttempt: (a: Attempt) => void = () => undefined,
  ) {}

  /** Handles one authentication request; `end` closes the connection after too many failures. */
  /** `admit` runs after a successful check, before accepting; it may refuse (e.g. home unusable). */
  async handle(
    ctx: AuthContext,
    st: AuthState,
    admit: (user: UserRecord) => Promise<void>,
    end: () => void,
  ): Promise<void> {
    if (ctx.method === 'none') return ctx.reject(METHODS);
    const name = ctx.username;
    let record: UserRecord | undefined;
    try {
      record = await this.accounts.lookup(name);
    } catch (e) {
      log('user.record_error', { user: name, error: (e as Error).message });
      record = undefined;
    }
    const locked = this.defence.locked(st.addr, name);
    let ok = false;
    if (ctx.method === 'publickey') {
      const wanted = ctx.key.data;
      const sha1 = ctx.key.algo === 'ssh-rsa' && !ctx.hashAlgo && !this.legacy; // SHA-1 signatures: legacy only
      const match = sha1
        ? undefined
        : record?.keys.map(parsedKey).find((k) => k?.getPublicSSH().equals(wanted));
      if (match && !locked) {
        if (!ctx.signature || !ctx.blob) return ctx.accept(); // a probe: "this key would do"
        ok = match.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true;
      }
    } else if (ctx.method === 'password') {
      ok = (await this.passwords.verify(record?.password, ctx.password)) && !locked;
    } else if (ctx.method === 'keyboard-interactive') {
      const answer = await new Promise<string>((res) =>
        ctx.prompt([{ prompt: 'Password: ', echo: false }], '', '', (a) => res(a[0] ?? '')),
      );
      ok = (await this.passwords.verify(record?.password, answer)) && !locked;
    }
    const attempt = { user: name, addr: st.addr, session: st.session, method: ctx.method };
    let status = locked ? 'locked out' : record ? 'wrong credentials' : 'unknown user';
    if (ok && record) {
      try {
        await admit(record);
        this.defence.success(st.addr, name);
        st.user = record;
        log('login', { user: name, addr: st.addr, method: ctx.method });
        this.onAttempt({ ...attempt, ok: true, status: 'ok' });
        return ctx.accept();
      } catch (e) {
        status = (e as Error).message;
        log('login.refused', { user: name, addr: st.addr, reason: status });
      }
    }
    this.onAttempt({ ...attempt, ok: false, status });
    st.failures++;
    const delay = this.defence.failure(st.addr, name);
    log('login.failed', { user: name, addr: st.addr, method: ctx.method, attempt: st.failures });
    setTimeout(() => {
      try {
        ctx.reject(METHODS);
        if (st.failures >= this.maxAttempts) end();
      } catch (e) {
        // the client went away meanwhile (ssh2: "No auth in progress")
        debug('auth.reply_error', { user: name, addr: st.addr, error: (e as Error).message });
      }
    }, delay).unref();
  }
}

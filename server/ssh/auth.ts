// Authentication: password and keyboard-interactive (argon2id), and public keys (signature checked
// against the user's authorized keys). Every refusal looks the same, whatever its reason. A user
// with TOTP passes a password or key first (SSH partial success), then gives the code through
// keyboard-interactive (see secondFactor below).
import ssh2, { type AuthContext, type ParsedKey } from 'ssh2';
import { debug, log } from '../log.js';
import type { PasswordChecker } from '../users/password.js';
import type { Accounts } from '../account/accounts.js';
import type { Attempt } from '../account/events.js';
import { StoreUnavailable, type UserRecord } from '../account/store.js';
import { CODE_PROMPT, codeStep } from '../users/totp.js';

const METHODS: AuthContext['method'][] = ['publickey', 'password', 'keyboard-interactive'];

export interface AuthState {
  addr: string;
  /** the connection's id (audit) */
  session: string;
  failures: number;
  user?: UserRecord;
  /** the first factor passed (TOTP users): who, and by which method */
  firstFactor?: { user: string; method: string };
}

type KbdContext = Extract<AuthContext, { method: 'keyboard-interactive' }>;

/** One keyboard-interactive round with one hidden prompt; the answer, or '' if none came. */
function ask(ctx: KbdContext, prompt: string): Promise<string> {
  return new Promise<string>((res) =>
    ctx.prompt([{ prompt, echo: false }], '', '', (a) => res(Array.isArray(a) ? (a[0] ?? '') : '')),
  );
}

function parsedKey(line: string): ParsedKey | undefined {
  const p = ssh2.utils.parseKey(line);
  const k = Array.isArray(p) ? p[0] : p;
  return k && !(k instanceof Error) ? k : undefined;
}

/** The delay after a failure when the defence's store cannot count it. */
const UNCOUNTED_DELAY_MS = 2000;

export class Authenticator {
  constructor(
    private readonly accounts: Accounts,
    private readonly passwords: PasswordChecker,
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
    let storeDown = false;
    try {
      record = await this.accounts.lookup(name);
    } catch (e) {
      // the store away (database unreachable): refused like an unknown user, and said so in the log
      storeDown = e instanceof StoreUnavailable;
      const event = storeDown ? 'login.store_unavailable' : 'user.record_error';
      log(event, { user: name, addr: st.addr, error: (e as Error).message });
      record = undefined;
    }
    // the store away: the defence (in the same store) cannot answer either; nothing is checked
    const locked = storeDown || (await this.locked(st.addr, name));
    let ok = false;
    // TOTP: the first factor passed on this connection, for this user name
    const second = st.firstFactor?.user === name && ctx.method === 'keyboard-interactive';
    let method: string = ctx.method;
    let codeAsked = false;
    if (second) {
      method = `${st.firstFactor!.method}+totp`;
      codeAsked = true;
      const answer = await ask(ctx, CODE_PROMPT);
      ok = !locked && (await this.codeOk(record, answer));
    } else if (ctx.method === 'publickey') {
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
      ok = (await this.passwords.verify(record?.password, await ask(ctx, 'Password: '))) && !locked;
      // a TOTP user through keyboard-interactive alone (PuTTY, WinSCP): the code in a second round
      if (ok && record?.totp) {
        method = 'keyboard-interactive+totp';
        codeAsked = true;
        ok = await this.codeOk(record, await ask(ctx, CODE_PROMPT));
      }
    }
    if (ok && record?.totp && !codeAsked) {
      // first factor passed: only keyboard-interactive (the code) may follow
      st.firstFactor = { user: name, method: ctx.method };
      log('login.partial', { user: name, addr: st.addr, method: ctx.method });
      return ctx.reject(['keyboard-interactive'], true);
    }
    const attempt = { user: name, addr: st.addr, session: st.session, method };
    let status = locked ? 'locked out' : record ? 'wrong credentials' : 'unknown user';
    if (codeAsked && !locked) status = 'wrong code';
    if (storeDown) status = 'store unavailable';
    if (ok && record) {
      try {
        await admit(record);
        await this.accounts.defence
          .success(st.addr, name)
          .catch((e: unknown) => this.defenceError('success', name, st.addr, e));
        st.user = record;
        log('login', { user: name, addr: st.addr, method });
        this.onAttempt({ ...attempt, ok: true, status: 'ok' });
        return ctx.accept();
      } catch (e) {
        status = (e as Error).message;
        log('login.refused', { user: name, addr: st.addr, reason: status });
      }
    }
    this.onAttempt({ ...attempt, ok: false, status });
    st.failures++;
    // a refusal because the store is away is nobody's wrong guess: not counted by the defence
    const delay = storeDown
      ? 0
      : await this.accounts.defence
          .failure(st.addr, name)
          .catch(
            (e: unknown) => (this.defenceError('failure', name, st.addr, e), UNCOUNTED_DELAY_MS),
          );
    log('login.failed', { user: name, addr: st.addr, method, attempt: st.failures });
    setTimeout(() => {
      try {
        // after a wrong code the first factor still holds: the client may try another code
        ctx.reject(second ? ['keyboard-interactive'] : METHODS);
        if (st.failures >= this.maxAttempts) end();
      } catch (e) {
        // the client went away meanwhile (ssh2: "No auth in progress")
        debug('auth.reply_error', { user: name, addr: st.addr, error: (e as Error).message });
      }
    }, delay).unref();
  }

  /** Is the pair locked out? When the defence cannot answer, yes: nothing is checked unbounded. */
  private async locked(addr: string, user: string): Promise<boolean> {
    try {
      return await this.accounts.defence.locked(addr, user);
    } catch (e) {
      this.defenceError('locked', user, addr, e);
      return true;
    }
  }

  private defenceError(what: string, user: string, addr: string, e: unknown): void {
    log('defence.error', { what, user, addr, error: (e as Error).message });
  }

  /**
   * The code is right for the user's secret now (±1 step) and its step was not used before (on any
   * node, in a cluster); a store that cannot answer refuses the code.
   */
  private async codeOk(record: UserRecord | undefined, code: string): Promise<boolean> {
    if (!record?.totp) return false;
    const step = codeStep(record.name, record.totp.secret, code);
    if (step === null) return false;
    try {
      return await this.accounts.totpSteps.take(record.name, step);
    } catch (e) {
      log('totp.store_error', { user: record.name, error: (e as Error).message });
      return false;
    }
  }
}

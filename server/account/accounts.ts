// The account layer: everything about a user that is not about SSH or SFTP. It answers the login
// (the user's record, home and storage, the quota ledger), counts and bounds each user's sessions,
// and keeps a registry of open sessions per user, so that a change (closing a user's sessions, a
// new quota) can reach them. The SSH layer and the engine ask it; they never read records or
// ledgers themselves.
import { mkdirSync, statSync } from 'node:fs';
import { Jail } from '../fs/jail.js';
import type { Storage } from '../fs/storage.js';
import { UserFs } from '../fs/userfs.js';
import { Ledgers } from './ledgers.js';
import type { Store, UserRecord } from './store.js';

export interface AccountOptions {
  maxSessionsPerUser: number;
  /** let users create symbolic links (inside their home) */
  allowSymlinks: boolean;
}

export type SessionKind = 'sftp' | 'exec';

/** One open session of a user (an SFTP subsystem or an exec command), as the registry holds it. */
export class AccountSession {
  readonly started = Date.now();
  private ended = false;

  constructor(
    readonly login: Login,
    readonly kind: SessionKind,
    /** asks the protocol layer to end the session (it then calls end() once its files are closed) */
    private readonly closer: (reason: string) => void,
  ) {}

  get user(): string {
    return this.login.user;
  }

  /** Ends the session from outside (live control, connection gone); end() follows. */
  close(reason: string): void {
    if (!this.ended) this.closer(reason);
  }

  /** The session is over and every file it opened is closed. Idempotent. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.login.ended(this);
  }
}

/** One connection's login: its hold on the user's ledger and its sessions. */
export class Login {
  private readonly open = new Set<AccountSession>();
  private gone = false;
  private released = false;

  constructor(
    private readonly accounts: Accounts,
    readonly user: string,
    readonly home: string,
    readonly storage: Storage,
  ) {}

  /** Sessions of this login whose files are not all closed yet. */
  get sessions(): number {
    return this.open.size;
  }

  /** Reserves a session slot; an error text when the user is at the session limit. */
  openSession(kind: SessionKind, closer: (reason: string) => void): AccountSession | string {
    const over = this.accounts.admitSession(this.user);
    if (over) return over;
    const s = new AccountSession(this, kind, closer);
    this.open.add(s);
    this.accounts.register(s);
    return s;
  }

  /** @internal from AccountSession.end */
  ended(s: AccountSession): void {
    if (!this.open.delete(s)) return;
    this.accounts.unregister(s);
    this.maybeRelease();
  }

  /**
   * The connection is gone: ends its sessions (they close their files, then call end()), and the
   * ledger is given back once they all have, so that a new login does not rescan the home while
   * writes of this connection are still landing.
   */
  logout(): void {
    this.gone = true;
    for (const s of [...this.open]) s.close('connection closed');
    this.maybeRelease();
  }

  private maybeRelease(): void {
    if (!this.gone || this.open.size > 0 || this.released) return;
    this.released = true;
    this.accounts.ledgers.release(this.user, this.home);
  }
}

export class Accounts {
  /** @internal */
  readonly ledgers: Ledgers;
  private readonly byUser = new Map<string, Set<AccountSession>>();
  private live = 0;

  constructor(
    private readonly store: Store,
    private readonly opts: AccountOptions,
  ) {
    this.ledgers = new Ledgers(store);
  }

  /** The record for a login name (credentials, quota), or undefined; rejects on a broken record. */
  lookup(name: string): Promise<UserRecord | undefined> {
    return this.store.user(name);
  }

  /**
   * After the credentials were checked: prepares the home, takes a hold on the user's ledger and
   * builds the user's storage. Rejects (the login is refused) when the home is unusable.
   */
  async login(record: UserRecord): Promise<Login> {
    const home = this.store.homeOf(record);
    prepareHome(home);
    const ledger = await this.ledgers.acquire(record, home);
    const storage = new UserFs(new Jail(home), ledger, { allowSymlinks: this.opts.allowSymlinks });
    return new Login(this, record.name, home, storage);
  }

  /** @internal the session limit check */
  admitSession(user: string): string | undefined {
    const n = this.byUser.get(user)?.size ?? 0;
    const max = this.opts.maxSessionsPerUser;
    return n >= max ? `too many sessions for user ${user} (limit ${max})` : undefined;
  }

  /** @internal */
  register(s: AccountSession): void {
    let set = this.byUser.get(s.user);
    if (!set) this.byUser.set(s.user, (set = new Set()));
    set.add(s);
    this.live++;
  }

  /** @internal */
  unregister(s: AccountSession): void {
    const set = this.byUser.get(s.user);
    if (!set?.delete(s)) return;
    if (set.size === 0) this.byUser.delete(s.user);
    this.live--;
  }

  /** Sessions, on every connection, whose files are not all closed yet. */
  get liveSessions(): number {
    return this.live;
  }

  /** The open sessions of a user (a copy: closing them while iterating is safe). */
  sessionsOf(user: string): AccountSession[] {
    return [...(this.byUser.get(user) ?? [])];
  }

  /** Users with open sessions. */
  users(): string[] {
    return [...this.byUser.keys()];
  }

  /** Applies a new quota to the user's ledgers in use: open sessions see it at their next write. */
  async setQuota(user: string, bytes: number): Promise<void> {
    for (const l of await this.ledgers.of(user)) l.limit = bytes;
  }

  /** Closes every session of a user (their files close, then they leave the registry). */
  closeUser(user: string, reason: string): number {
    const all = this.sessionsOf(user);
    for (const s of all) s.close(reason);
    return all.length;
  }
}

/** Homes are created on demand; a home that is not a directory refuses the login. */
function prepareHome(home: string): void {
  try {
    mkdirSync(home, { recursive: true, mode: 0o755 });
  } catch (e) {
    // mkdir -p answers EEXIST when the home is a file: say what the admin must fix
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  if (!statSync(home).isDirectory()) throw new Error(`home ${home} is not a directory`);
}

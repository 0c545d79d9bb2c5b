// The account layer: everything about a user that is not about SSH or SFTP. It answers the login
// (the user's record, home and storage, the quota ledger), counts and bounds each user's sessions,
// and keeps a registry of open sessions per user, so that a change (closing a user's sessions, a
// new quota, new rates) can reach them. The SSH layer and the engine ask it; they never read records or
// ledgers themselves.
import { randomUUID } from 'node:crypto';
import { log } from '../log.js';
import { mkdirSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { runIn } from '../fs/gate.js';
import { homeIo } from '../fs/home-io.js';
import { Jail, type HomeIo } from '../fs/jail.js';
import type { Storage } from '../fs/storage.js';
import { UserFs } from '../fs/userfs.js';
import { loginRefusal } from '../users/store.js';
import { userAddressRefusal } from './address-rules.js';
import { NO_OBSERVER, type AccountObserver } from './events.js';
import { Ledgers } from './ledgers.js';
import { ObservedStorage, type LoginInfo } from './observed-storage.js';
import { PermissionStorage } from './permission-storage.js';
import { RateRegistry, UNLIMITED, type RateLimits } from './rates.js';
import { ThrottledStorage } from './throttled-storage.js';
import type { Store, UserRecord } from './store.js';
import type { LoginDefence } from './defence.js';
import type { TotpSteps } from './totp-steps.js';

export interface AccountOptions {
  maxSessionsPerUser: number;
  /** let users create symbolic links (inside their home) */
  allowSymlinks: boolean;
  /** default bandwidth per user (a user's own rates win); unlimited when absent */
  rates?: RateLimits;
  /** Config.uploadDigests: `always` hashes every upload as it arrives; `auto` (the default) only
   *  where the digest is read (the observer's audit log or hooks, or a login that asks for it) */
  uploadDigests?: 'auto' | 'always';
}

/** Where a login comes from: the client's address and the connection's id. */
export interface Peer {
  addr: string;
  session: string;
}

export type SessionKind = 'sftp' | 'exec';

/** One open session of a user (an SFTP subsystem or an exec command), as the registry holds it. */
export class AccountSession {
  readonly started = Date.now();
  /** unique among all nodes (the session registry's key) */
  readonly id = randomUUID();
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
  readonly since = new Date();
  /** when the account expires (ms), from the record at login and at each change of it */
  expires?: number;
  /** the user's permissions as this login enforces them (a change of the record replaces them) */
  permissions?: PermissionStorage;
  /**
   * A client of this connection verifies its uploads by their SHA-256 (it sent UPLOAD_DIGESTS_ENV,
   * or ran `sha256sum`): with `uploadDigests: auto` its uploads are hashed as they arrive, so that
   * its `sha256sum` right after one is answered at once instead of reading the file again.
   */
  asksDigests = false;
  /** ends the whole connection (live control); set by the protocol layer */
  disconnect: (reason: string) => void = () => undefined;

  constructor(
    private readonly accounts: Accounts,
    readonly user: string,
    readonly home: string,
    readonly storage: Storage,
    /** address, connection id, bytes up and down, open handles */
    readonly info: LoginInfo,
  ) {}

  /** Sessions of this login whose files are not all closed yet. */
  get sessions(): number {
    return this.open.size;
  }

  /**
   * Reserves a session slot (in a cluster, counted across all nodes); an error text when the user is
   * at the session limit, the registry cannot answer, or the connection went away meanwhile.
   */
  async openSession(
    kind: SessionKind,
    closer: (reason: string) => void,
  ): Promise<AccountSession | string> {
    const s = new AccountSession(this, kind, closer);
    const over = await this.accounts.admitSession(this.user, s.id, this.info.addr);
    if (over) return over;
    if (this.gone) {
      this.accounts.releaseSession(s.id);
      return 'connection closed';
    }
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
    if (!this.gone) this.accounts.loggedOut(this);
    this.gone = true;
    for (const s of [...this.open]) s.close('connection closed');
    this.maybeRelease();
  }

  private maybeRelease(): void {
    if (!this.gone || this.open.size > 0 || this.released) return;
    this.released = true;
    this.accounts.ledgers.release(this.user, this.home);
    this.accounts.rates.release(this.user);
  }
}

export class Accounts {
  /** @internal */
  readonly ledgers: Ledgers;
  /** @internal the bandwidth buckets, one per user and direction */
  readonly rates = new RateRegistry();
  private readonly byUser = new Map<string, Set<AccountSession>>();
  private readonly logins = new Map<string, Set<Login>>();
  private live = 0;

  constructor(
    private readonly store: Store,
    private opts: AccountOptions,
    private readonly observer: AccountObserver = NO_OBSERVER,
  ) {
    this.ledgers = new Ledgers(store);
    this.rates.configure(opts.rates ?? UNLIMITED);
  }

  /** New limits and defaults (config reload): sessions and logins from now on. */
  configure(opts: AccountOptions): void {
    this.opts = opts;
    this.rates.configure(opts.rates ?? UNLIMITED); // rates: at once, for open sessions too
  }

  /** The login defence (failures, lockouts): the store's, shared by all nodes in a cluster. */
  get defence(): LoginDefence {
    return this.store.defence;
  }

  /** TOTP steps already accepted: the store's, shared by all nodes in a cluster. */
  get totpSteps(): TotpSteps {
    return this.store.totpSteps;
  }

  /** The record for a login name (credentials, quota), or undefined; rejects on a broken record. */
  lookup(name: string): Promise<UserRecord | undefined> {
    return this.store.user(name);
  }

  /**
   * After the credentials were checked: prepares the home, takes a hold on the user's ledger and
   * builds the user's storage. Rejects (the login is refused) when the home is unusable.
   */
  async login(record: UserRecord, peer: Peer = { addr: '', session: '' }): Promise<Login> {
    const refusal = loginRefusal(record) ?? addressRefusal(record, peer.addr);
    if (refusal) throw new Error(refusal);
    const home = this.store.homeOf(record);
    const io = await homeIo(home);
    await prepareHome(home, io);
    const ledger = await this.ledgers.acquire(record, home);
    const jail = await Jail.open(home, io);
    // asked at each open, so that a reload, or a client that asks later in its connection, applies
    // to the files opened from then on (`login` is set below, before any open can happen)
    const disk = new UserFs(jail, ledger, {
      allowSymlinks: this.opts.allowSymlinks,
      keepAhead: () => this.observer.readsUploadDigests(),
      digests: () =>
        this.opts.uploadDigests === 'always' ||
        this.observer.readsUploadDigests() ||
        login.asksDigests,
    });
    const info: LoginInfo = { user: record.name, ...peer, bytesUp: 0, bytesDown: 0, handles: 0 };
    // bandwidth: the user's shared buckets, below the observer (its times include the waits)
    const throttled = new ThrottledStorage(disk, this.rates.acquire(record), info);
    const observed = new ObservedStorage(throttled, info, this.observer, { home: jail.home });
    const permitted = new PermissionStorage(observed, record.perms, info, this.observer);
    const login: Login = new Login(this, record.name, home, permitted, info);
    login.permissions = permitted;
    if (record.expires !== undefined) login.expires = Date.parse(record.expires);
    let set = this.logins.get(record.name);
    if (!set) this.logins.set(record.name, (set = new Set()));
    set.add(login);
    return login;
  }

  /** @internal from Login.logout */
  loggedOut(login: Login): void {
    const set = this.logins.get(login.user);
    if (!set?.delete(login)) return;
    this.rates.cancel(login.user, login.info); // its requests waiting for tokens fail now
    if (set.size === 0) this.logins.delete(login.user);
  }

  /** Every login (connection) now, of every user. */
  allLogins(): Login[] {
    return [...this.logins.values()].flatMap((s) => [...s]);
  }

  /** Ends every connection of a user (disabled, expired, deleted, kicked); how many. */
  kick(user: string, reason: string): number {
    const all = [...(this.logins.get(user) ?? [])];
    for (const l of all) {
      l.disconnect(reason);
      l.logout();
    }
    return all.length;
  }

  /**
   * A user's record changed (or is gone): a new quota or new rates reach the open sessions at once; a
   * deleted, disabled or expired user's connections are ended. Passwords and keys apply at the
   * next login and cut nothing.
   */
  async recordChanged(user: string): Promise<void> {
    if (!this.logins.has(user)) return;
    let record: UserRecord | undefined;
    try {
      record = await this.store.user(user);
    } catch {
      return; // a record being rewritten or broken: keep the sessions, the next login will say
    }
    const why = record ? loginRefusal(record) : 'account deleted';
    if (why) {
      this.kick(user, why);
      return;
    }
    // address rules: a connection whose address the changed rules refuse is ended
    for (const l of [...(this.logins.get(user) ?? [])]) {
      const refused = addressRefusal(record!, l.info.addr);
      if (!refused) continue;
      l.disconnect(refused);
      l.logout();
    }
    const expires = record!.expires === undefined ? undefined : Date.parse(record!.expires);
    for (const l of this.logins.get(user) ?? []) l.expires = expires;
    for (const l of this.logins.get(user) ?? [])
      if (l.permissions) l.permissions.rules = record!.perms;
    this.rates.update(record!);
    await this.setQuota(user, record!.quota);
  }

  /** Ends the connections of users whose account expired while they were logged in. */
  kickExpired(now = Date.now()): void {
    for (const [user, set] of [...this.logins])
      if ([...set].some((l) => l.expires !== undefined && l.expires <= now))
        this.kick(user, 'account expired');
  }

  /** @internal the session limit check: takes a slot in the store's registry, or says why not */
  async admitSession(user: string, id: string, addr: string): Promise<string | undefined> {
    try {
      return await this.store.sessions.admit(user, this.opts.maxSessionsPerUser, { id, addr });
    } catch (e) {
      log('session.registry_error', { user, error: (e as Error).message });
      return 'cannot count sessions now (store unavailable), try again later';
    }
  }

  /** @internal gives a slot back to the registry (a failure is logged, never thrown) */
  releaseSession(id: string): void {
    this.store.sessions
      .release(id)
      .catch((e: unknown) => log('session.release_error', { error: (e as Error).message }));
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
    this.releaseSession(s.id);
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

/** Why the user's address rules refuse this address (a broken rule refuses), or null. */
function addressRefusal(record: UserRecord, addr: string): string | null {
  try {
    return userAddressRefusal(record, addr);
  } catch (e) {
    return `address rules of user ${record.name}: ${(e as Error).message}`;
  }
}

/**
 * Homes are created on demand; a home that is not a directory refuses the login. On a network
 * filesystem the calls run through the home's gate (fs/gate.ts): a home on a hung filesystem
 * refuses the login in time rather than stall the server.
 */
async function prepareHome(home: string, io: HomeIo): Promise<void> {
  if (io === 'sync') {
    try {
      mkdirSync(home, { recursive: true, mode: 0o755 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (!statSync(home).isDirectory()) throw new Error(`home ${home} is not a directory`);
    return;
  }
  try {
    await runIn(home, () => mkdir(home, { recursive: true, mode: 0o755 }));
  } catch (e) {
    // mkdir -p answers EEXIST when the home is a file: say what the admin must fix
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = await runIn(home, () => stat(home));
  if (!st.isDirectory()) throw new Error(`home ${home} is not a directory`);
}

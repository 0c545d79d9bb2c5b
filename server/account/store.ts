// The store behind the account layer: user records, the start of each user's quota ledger, and the
// counts that must hold across a cluster (login defence, sessions per user, used TOTP steps). The
// only part that differs between one node and a cluster: `FileStore` (users/*.json, a scan of the
// home, the counts in memory) or a PostgreSQL store, without a change above the account layer.
import { accessSync, constants, mkdirSync, watch } from 'node:fs';
import { Ledger, scanUsage, type QuotaLedger } from '../fs/quota.js';
import { log } from '../log.js';
import { UserStore, type UserRecord } from '../users/store.js';
import { MemoryDefence, type LoginDefence } from './defence.js';
import { MemorySessions, type SessionRegistry } from './sessions.js';
import { MemoryTotpSteps, type TotpSteps } from './totp-steps.js';

export type { UserRecord } from '../users/store.js';

/** The store cannot be reached or did not answer in time (not: a broken record). */
export class StoreUnavailable extends Error {
  constructor(cause: unknown) {
    super(`user store unavailable: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

export interface Store {
  /** The user's record, or undefined when there is none; rejects when it cannot be read. */
  user(name: string): Promise<UserRecord | undefined>;
  /** The user's home directory on disk. */
  homeOf(record: UserRecord): string;
  /** A new quota ledger for the user's home: the quota, and the bytes the home holds now. */
  newLedger(record: UserRecord, home: string): Promise<QuotaLedger>;
  /** Calls back with a user's name when their record changes or goes; returns a stop function. */
  watch(onChange: (user: string) => void): () => void;
  /** null while the store answers, else why it does not (health checks) */
  problem(): string | null;
  /** failed logins and lockouts per address and (address, user) */
  readonly defence: LoginDefence;
  /** open sessions per user (maxSessionsPerUser) */
  readonly sessions: SessionRegistry;
  /** TOTP steps already accepted (a code is accepted once) */
  readonly totpSteps: TotpSteps;
  /** Ends the store's connections and watchers (at shutdown). */
  close?(): Promise<void>;
}

/** Records in a directory of JSON files (read again at every login); usage from a scan of the home. */
export class FileStore implements Store {
  readonly records: UserStore;
  // one node: the counts live in this process's memory
  readonly defence: LoginDefence = new MemoryDefence();
  readonly sessions: SessionRegistry = new MemorySessions();
  readonly totpSteps: TotpSteps = new MemoryTotpSteps();

  constructor(usersDir: string, homesDir: string) {
    this.records = new UserStore(usersDir, homesDir);
  }

  async user(name: string): Promise<UserRecord | undefined> {
    return this.records.get(name);
  }

  homeOf(record: UserRecord): string {
    return this.records.homeOf(record);
  }

  async newLedger(record: UserRecord, home: string): Promise<QuotaLedger> {
    return new Ledger(record.quota, await scanUsage(home));
  }

  watch(onChange: (user: string) => void): () => void {
    mkdirSync(this.records.dir, { recursive: true, mode: 0o700 });
    // records are replaced by rename (users/store.ts): the event names the record's file
    const w = watch(this.records.dir, (_type, file) => {
      const name = typeof file === 'string' ? /^([^.].*)\.json$/.exec(file)?.[1] : undefined;
      if (name) onChange(name);
    });
    w.on('error', (e) => log('store.watch_error', { dir: this.records.dir, error: e.message }));
    return () => w.close();
  }

  problem(): string | null {
    try {
      accessSync(this.records.dir, constants.R_OK | constants.X_OK);
      return null;
    } catch (e) {
      return `users directory unreadable: ${(e as NodeJS.ErrnoException).code ?? 'error'}`;
    }
  }

  async close(): Promise<void> {}
}

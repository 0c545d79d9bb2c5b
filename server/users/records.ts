// The user records as the admin commands see them, on either store: `FileRecords` (users/*.json,
// usage from a scan of the home) here, `PgRecords` (server/store/pg-records.ts) for PostgreSQL.
import { scanUsage } from '../fs/quota.js';
import { UserStore, type UserRecord } from './store.js';

export interface UserRecords {
  /** where the records are, for messages (a PostgreSQL URL without its password) */
  readonly location: string;
  /** the record, or undefined when there is none; rejects on a broken record or store */
  get(name: string): Promise<UserRecord | undefined>;
  /** every user name, sorted */
  list(): Promise<string[]>;
  /** adds a new user; false (nothing written) when the name exists. `used`: bytes in the home */
  create(r: UserRecord, used?: number): Promise<boolean>;
  /** replaces an existing user's record; rejects when the user is gone */
  put(r: UserRecord): Promise<void>;
  /** removes the user; false when there was none */
  delete(name: string): Promise<boolean>;
  /** bytes the user's files hold: a scan of the home (file) or the store's settled count */
  used(r: UserRecord): Promise<number>;
  /** the user's home directory */
  homeOf(r: UserRecord): string;
  close(): Promise<void>;
}

/** Records in a directory of JSON files. */
export class FileRecords implements UserRecords {
  readonly files: UserStore;

  constructor(usersDir: string, homesDir: string) {
    this.files = new UserStore(usersDir, homesDir);
  }

  get location(): string {
    return this.files.dir;
  }

  async get(name: string): Promise<UserRecord | undefined> {
    return this.files.get(name);
  }

  async list(): Promise<string[]> {
    return this.files.list();
  }

  async create(r: UserRecord): Promise<boolean> {
    if (this.files.get(r.name)) return false;
    this.files.put(r);
    return true;
  }

  async put(r: UserRecord): Promise<void> {
    this.files.put(r);
  }

  async delete(name: string): Promise<boolean> {
    return this.files.delete(name);
  }

  used(r: UserRecord): Promise<number> {
    return scanUsage(this.homeOf(r));
  }

  homeOf(r: UserRecord): string {
    return this.files.homeOf(r);
  }

  async close(): Promise<void> {}
}

// The store behind the account layer: user records and the start of each user's quota ledger. The
// only part that differs between one node and a cluster: `FileStore` (users/*.json, a scan of the
// home) today, a PostgreSQL store later, without a change above the account layer.
import { Ledger, scanUsage } from '../fs/quota.js';
import { UserStore, type UserRecord } from '../users/store.js';

export type { UserRecord } from '../users/store.js';

export interface Store {
  /** The user's record, or undefined when there is none; rejects when it cannot be read. */
  user(name: string): Promise<UserRecord | undefined>;
  /** The user's home directory on disk. */
  homeOf(record: UserRecord): string;
  /** A new quota ledger for the user's home: the quota, and the bytes the home holds now. */
  newLedger(record: UserRecord, home: string): Promise<Ledger>;
}

/** Records in a directory of JSON files (read again at every login); usage from a scan of the home. */
export class FileStore implements Store {
  readonly records: UserStore;

  constructor(usersDir: string, homesDir: string) {
    this.records = new UserStore(usersDir, homesDir);
  }

  async user(name: string): Promise<UserRecord | undefined> {
    return this.records.get(name);
  }

  homeOf(record: UserRecord): string {
    return this.records.homeOf(record);
  }

  async newLedger(record: UserRecord, home: string): Promise<Ledger> {
    return new Ledger(record.quota, await scanUsage(home));
  }
}

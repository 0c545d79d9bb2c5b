// The quota ledgers of the users who are logged in: one per (user, home), shared by all of that
// user's connections, created from the store at the first login and dropped when the last
// connection that held it is gone and its sessions have closed their files (so that files an
// administrator changed on disk count from the next login).
import type { QuotaLedger } from '../fs/quota.js';
import type { Store, UserRecord } from './store.js';

interface Entry {
  ledger: Promise<QuotaLedger>;
  /** connections holding the ledger */
  refs: number;
}

export class Ledgers {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly store: Store) {}

  private static key(user: string, home: string): string {
    return `${user}\0${home}`;
  }

  /**
   * The user's ledger, shared while anyone holds it. The record's quota applies at every login,
   * so a changed quota reaches the open sessions at once.
   */
  async acquire(record: UserRecord, home: string): Promise<QuotaLedger> {
    const key = Ledgers.key(record.name, home);
    let e = this.entries.get(key);
    if (!e) {
      const entry: Entry = { ledger: this.store.newLedger(record, home), refs: 0 };
      this.entries.set(key, entry);
      entry.ledger.catch(() => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      });
      e = entry;
    }
    const l = await e.ledger;
    l.limit = record.quota;
    e.refs++;
    return l;
  }

  /** Gives back one hold on the ledger; the last one drops it. */
  release(user: string, home: string): void {
    const key = Ledgers.key(user, home);
    const e = this.entries.get(key);
    if (!e) return;
    e.refs--;
    if (e.refs > 0) return;
    this.entries.delete(key);
    void e.ledger.then((l) => l.close?.()).catch(() => undefined);
  }

  /** The ledgers of a user that are in use now (one per home the user logged in with). */
  async of(user: string): Promise<QuotaLedger[]> {
    const mine = [...this.entries.entries()].filter(([k]) => k.startsWith(`${user}\0`));
    return Promise.all(mine.map(([, e]) => e.ledger));
  }
}

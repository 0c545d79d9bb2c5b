// Bandwidth per user: the effective rates of a user (the record's own upload and download rates, or
// the config's defaults) and the registry of token buckets, one per user and direction, shared by
// all of that user's sessions on this node. A limited user waits for their own tokens only, so no
// one else slows down. A changed record or config reaches the buckets in use at once.
//
// Cluster mode: each node keeps its own buckets, so a user with sessions on several nodes would get
// the rate on each. There, each node would get its share of a user's rate (the rate divided among
// the nodes the user has sessions on, published through the store) and set its buckets to it.
import type { UserRecord } from '../users/store.js';
import { TokenBucket } from './token-bucket.js';

/** Bytes per second in each direction; 0 = unlimited. */
export interface RateLimits {
  upload: number;
  download: number;
}

/** The rates a user record may set (absent: the defaults). */
export type OwnRates = Pick<UserRecord, 'uploadRate' | 'downloadRate'>;

export const UNLIMITED: RateLimits = { upload: 0, download: 0 };

function valid(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

/** The rates that apply to a user: their own where the record has one, else the defaults. */
export function effectiveRates(r: OwnRates, defaults: RateLimits): RateLimits {
  return {
    upload: valid(r.uploadRate) ? r.uploadRate : defaults.upload,
    download: valid(r.downloadRate) ? r.downloadRate : defaults.download,
  };
}

/** The two buckets of one user, and the record fields they were set from. */
export class UserRates {
  readonly upload = new TokenBucket(0);
  readonly download = new TokenBucket(0);
  /** logins holding these buckets */
  refs = 0;
  own: OwnRates = {};

  apply(defaults: RateLimits): void {
    const r = effectiveRates(this.own, defaults);
    this.upload.setRate(r.upload);
    this.download.setRate(r.download);
  }
}

export class RateRegistry {
  private defaults: RateLimits = UNLIMITED;
  private readonly users = new Map<string, UserRates>();

  /** New defaults (config reload): every user without rates of their own gets them at once. */
  configure(defaults: RateLimits): void {
    this.defaults = { ...defaults };
    for (const u of this.users.values()) u.apply(this.defaults);
  }

  /** At login: the user's buckets (shared with their other logins), set from the record. */
  acquire(record: UserRecord): UserRates {
    let u = this.users.get(record.name);
    if (!u) this.users.set(record.name, (u = new UserRates()));
    u.refs++;
    this.update(record);
    return u;
  }

  /** The last login of a user is over (its sessions closed their files): the buckets go. */
  release(user: string): void {
    const u = this.users.get(user);
    if (u && --u.refs <= 0) this.users.delete(user);
  }

  /** The user's record changed: new rates for their open sessions. */
  update(record: UserRecord): void {
    const u = this.users.get(record.name);
    if (!u) return;
    u.own = { uploadRate: record.uploadRate, downloadRate: record.downloadRate };
    u.apply(this.defaults);
  }

  /** A connection is gone: its requests still waiting for tokens fail now instead of later. */
  cancel(user: string, owner: unknown): void {
    const u = this.users.get(user);
    if (!u) return;
    const e = new Error('connection closed');
    u.upload.cancel(owner, e);
    u.download.cancel(owner, e);
  }

  /** The buckets of a user with open logins (for tests and the operations layer). */
  of(user: string): UserRates | undefined {
    return this.users.get(user);
  }
}

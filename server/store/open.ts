// Chooses the store from its location (config `store`, `--store`, $JAILSFTP_STORE): empty or `file`
// = users/*.json (the default), postgres:// or postgresql:// = PostgreSQL. The server gets a
// `Store`, the admin commands get `UserRecords`; both from here.
import pg from 'pg';
import { FileStore, type Store } from '../account/store.js';
import { FileRecords, type UserRecords } from '../users/records.js';
import { PgRecords } from './pg-records.js';
import { PgStore, requireSchema } from './pg-store.js';
import { isPgUrl, maskUrl, pgConfig } from './pg-config.js';

export type StoreKind = 'file' | 'postgres';

/** Where the store is, as far as opening it is concerned. */
export interface StoreLocation {
  store: string;
  users: string;
  homes: string;
  /** cluster mode: lease and grant size (config `cluster`) */
  cluster?: { leaseSeconds: number; grantBatch: number };
}

export function storeKind(location: string): StoreKind {
  if (location === '' || location === 'file') return 'file';
  if (isPgUrl(location)) return 'postgres';
  throw new Error(
    `unknown store "${maskUrl(location)}": use file or postgres://USER:PASSWORD@HOST:PORT/DB`,
  );
}

/** The store as logs may show it. */
export function describeStore(cfg: StoreLocation): string {
  return storeKind(cfg.store) === 'file' ? `file:${cfg.users}` : maskUrl(cfg.store);
}

/** The node's store; a PostgreSQL one is reachable and at this version's schema, or this rejects. */
export async function openStore(cfg: StoreLocation): Promise<Store> {
  if (storeKind(cfg.store) === 'file') return new FileStore(cfg.users, cfg.homes);
  return PgStore.open(cfg.store, cfg.homes, {
    leaseSeconds: cfg.cluster?.leaseSeconds,
    batchBytes: cfg.cluster?.grantBatch,
  });
}

/** The records for the admin commands (closed by the caller); checks a PostgreSQL schema. */
export async function openRecords(cfg: StoreLocation): Promise<UserRecords> {
  if (storeKind(cfg.store) === 'file') return new FileRecords(cfg.users, cfg.homes);
  const location = maskUrl(cfg.store);
  const pool = new pg.Pool(pgConfig(cfg.store, true));
  pool.on('error', () => undefined); // an idle connection cut: the next query says so
  try {
    await requireSchema(pool, location);
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw e;
  }
  return new PgRecords(pool, cfg.homes, location, () => pool.end());
}

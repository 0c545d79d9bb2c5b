// User records: users/NAME.json, one per user, written atomically (temp file + rename).
// Records are read again at every login, so changes apply to a running server at once.
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { isAbsolute, join } from 'node:path';
import ssh2 from 'ssh2';
import type { TotpRecord } from './totp.js';
import type { PermRules } from '../account/permissions.js';

export interface UserRecord {
  name: string;
  /** argon2id PHC string, or absent for key-only users */
  password?: string;
  /** authorized keys, one OpenSSH line each */
  keys: string[];
  /** bytes; 0 = unlimited */
  quota: number;
  /** absolute, or relative to the homes directory; default: the user's name */
  home?: string;
  /** refused at login, open sessions closed */
  disabled?: boolean;
  /** ISO 8601 instant after which the user is refused as if disabled */
  expires?: string;
  /** second factor: a TOTP secret, asked after a password or key (keyboard-interactive) */
  totp?: TotpRecord;
  /** permissions (issue 13): default and per-directory rights; absent = every right */
  perms?: PermRules;
  // address rules (issue 13): CIDRs; deny wins, a non-empty allow list must match
  allowFrom?: string[];
  denyFrom?: string[];
  // bandwidth (server/account/rates.ts): bytes per second, 0 = unlimited, absent = config `rates`
  uploadRate?: number;
  downloadRate?: number;
}

/** Why this user may not log in now (disabled, expired), or null. */
export function loginRefusal(r: UserRecord, now = Date.now()): string | null {
  if (r.disabled) return 'account disabled';
  if (r.expires !== undefined && Date.parse(r.expires) <= now)
    return `account expired ${r.expires}`;
  return null;
}

/**
 * An expiry argument: `never`, a date (the user may log in through that whole day, UTC) or an
 * ISO 8601 instant. Returns the instant as ISO text, or undefined for never.
 */
export function parseExpiry(text: string): string | undefined {
  if (text === 'never') return undefined;
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const t = Date.parse(`${text}T00:00:00Z`);
    if (Number.isNaN(t)) throw new Error(`invalid date "${text}"`);
    return new Date(t + 24 * 3600 * 1000).toISOString();
  }
  const t = Date.parse(text);
  if (Number.isNaN(t))
    throw new Error(`invalid expiry "${text}": use YYYY-MM-DD, an ISO 8601 time, or never`);
  return new Date(t).toISOString();
}

const NAME = /^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,31}$/;

export function validName(name: string): boolean {
  return NAME.test(name) && name !== '.' && name !== '..';
}

/** Checks an OpenSSH public key line and returns it normalised (type, base64, comment). */
export function parsePublicKeyLine(line: string): string {
  const parsed = ssh2.utils.parseKey(line.trim());
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error)
    throw new Error(`not an OpenSSH public key: ${line.slice(0, 40)}…`);
  const parts = line.trim().split(/\s+/);
  return parts.slice(0, 3).join(' ');
}

/** The user's home: the record's `home` (absolute, or relative to `homes`), else homes/NAME. */
export function homeIn(homes: string, r: UserRecord): string {
  const h = r.home ?? r.name;
  return isAbsolute(h) ? h : join(homes, h);
}

/** A parsed record checked for the fields the server relies on; throws "WHERE is invalid". */
export function checkRecord(value: unknown, name: string, where: string): UserRecord {
  const r = value as Partial<UserRecord> | null;
  if (
    typeof r !== 'object' ||
    r === null ||
    r.name !== name ||
    !Array.isArray(r.keys) ||
    typeof r.quota !== 'number'
  ) {
    throw new Error(`${where} is invalid`);
  }
  for (const k of ['uploadRate', 'downloadRate'] as const)
    if (r[k] !== undefined && !(typeof r[k] === 'number' && r[k] >= 0 && Number.isFinite(r[k])))
      throw new Error(`${where} is invalid: ${k}`);
  return r as UserRecord;
}

export class UserStore {
  constructor(
    readonly dir: string,
    readonly homes: string,
  ) {}

  private file(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  /** The record, or undefined when there is none. Throws on a corrupt or unreadable record. */
  get(name: string): UserRecord | undefined {
    if (!validName(name)) return undefined;
    let text: string;
    try {
      text = readFileSync(this.file(name), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    return checkRecord(JSON.parse(text), name, `user record ${this.file(name)}`);
  }

  homeOf(r: UserRecord): string {
    return homeIn(this.homes, r);
  }

  put(r: UserRecord): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, `.${r.name}.json.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify(r, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, this.file(r.name));
  }

  delete(name: string): boolean {
    try {
      unlinkSync(this.file(name));
      return true;
    } catch {
      return false;
    }
  }

  list(): string[] {
    let files: string[];
    try {
      files = readdirSync(this.dir);
    } catch {
      return [];
    }
    return files
      .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
      .map((f) => f.slice(0, -5))
      .filter(validName)
      .sort();
  }
}

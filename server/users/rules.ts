// The per-user rules an administrator sets with `jailsftpd user set NAME --OPTION VALUE` and reads
// with `jailsftpd user show NAME`: one entry per rule, with its option, how it changes the record
// and how it is shown. A new rule is one new entry here (and its field in UserRecord).
import { formatSize } from '../../common/format.js';
import { parseExpiry, type UserRecord } from './store.js';

export type RuleValue = string | boolean | string[];

export interface Rule {
  /** the long option of `user set` */
  option: string;
  type: 'string' | 'boolean';
  multiple?: boolean;
  /** one line of `user set --help` */
  help: string;
  /** changes the record; returns what changed, for the command's output; throws on a bad value */
  apply(r: UserRecord, value: RuleValue): string;
}

export const RULES: Rule[] = [
  {
    option: 'expires',
    type: 'string',
    help: '--expires DATE|never   when the account expires (a date: valid through that day, UTC)',
    apply(r, value) {
      const expires = parseExpiry(String(value));
      if (expires === undefined) delete r.expires;
      else r.expires = expires;
      return `expires ${expires ?? 'never'}`;
    },
  },
];

/** `user show`: one line per rule, label and value. */
export const SHOWN: Array<(r: UserRecord) => [string, string]> = [
  (r) => ['quota', r.quota === 0 ? 'unlimited' : `${formatSize(r.quota)} (${r.quota} bytes)`],
  (r) => ['password', r.password ? 'set' : 'none (keys only)'],
  (r) => ['keys', r.keys.length === 0 ? 'none' : r.keys.map((k) => k.split(' ')[0]).join(', ')],
  (r) => ['disabled', r.disabled ? 'yes' : 'no'],
  (r) => ['expires', r.expires ?? 'never'],
  // second factor: on or off, never the secret
  (r) => ['totp', r.totp ? 'on (a code after the password or key)' : 'off'],
];

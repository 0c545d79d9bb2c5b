// The per-user rules an administrator sets with `jailsftpd user set NAME --OPTION VALUE` and reads
// with `jailsftpd user show NAME`: one entry per rule, with its option, how it changes the record
// and how it is shown. A new rule is one new entry here (and its field in UserRecord).
import { formatSize } from '../../common/format.js';
import { parseCidrList } from '../account/address-rules.js';
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
  // address rules (issue 13)
  ...(['allowFrom', 'denyFrom'] as const).map((key): Rule => ({
    option: key === 'allowFrom' ? 'allow-from' : 'deny-from',
    type: 'string',
    help:
      key === 'allowFrom'
        ? '--allow-from CIDR[,CIDR]|none   log in only from these addresses'
        : '--deny-from CIDR[,CIDR]|none    never log in from these addresses',
    apply(r, value) {
      const list = parseCidrList(String(value));
      if (list.length === 0) delete r[key];
      else r[key] = list;
      return `${key} ${list.length === 0 ? 'none' : list.join(',')}`;
    },
  })),
];

/** `user show`: one line per rule, label and value. */
export const SHOWN: Array<(r: UserRecord) => [string, string]> = [
  (r) => ['quota', r.quota === 0 ? 'unlimited' : `${formatSize(r.quota)} (${r.quota} bytes)`],
  (r) => ['password', r.password ? 'set' : 'none (keys only)'],
  (r) => ['keys', r.keys.length === 0 ? 'none' : r.keys.map((k) => k.split(' ')[0]).join(', ')],
  (r) => ['disabled', r.disabled ? 'yes' : 'no'],
  (r) => ['expires', r.expires ?? 'never'],
  // address rules (issue 13)
  (r) => ['allowFrom', r.allowFrom?.length ? r.allowFrom.join(',') : 'anywhere'],
  (r) => ['denyFrom', r.denyFrom?.length ? r.denyFrom.join(',') : 'none'],
];

// The per-user rules an administrator sets with `jailsftpd user set NAME --OPTION VALUE` and reads
// with `jailsftpd user show NAME`: one entry per rule, with its option, how it changes the record
// and how it is shown. A new rule is one new entry here (and its field in UserRecord).
import { formatSize, parseSize } from '../../common/format.js';
import { effectiveRates } from '../account/rates.js';
import type { Config } from '../config.js';
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
  // bandwidth (server/account/rates.ts)
  rateRule('upload-rate', 'uploadRate', 'upload'),
  rateRule('download-rate', 'downloadRate', 'download'),
];

/** `--upload-rate SIZE` / `--download-rate SIZE`: bytes per second, 0 unlimited, `default`. */
function rateRule(option: string, field: 'uploadRate' | 'downloadRate', what: string): Rule {
  return {
    option,
    type: 'string',
    help: `--${option} SIZE|default   ${what} bytes per second, e.g. 4M (0 = unlimited; default: config rates.${what})`,
    apply(r, value) {
      const text = String(value);
      if (text === 'default') {
        delete r[field];
        return `${what} rate: the default`;
      }
      const n = parseSize(text);
      r[field] = n;
      return `${what} rate ${formatRate(n)}`;
    },
  };
}

/** "unlimited", "4 MiB/s (4194304 bytes/s)" */
function formatRate(n: number): string {
  return n === 0 ? 'unlimited' : `${formatSize(n)}/s (${n} bytes/s)`;
}

/** `user show`: one line per rule, label and value (`cfg`: the defaults a record may leave). */
export const SHOWN: Array<(r: UserRecord, cfg: Config) => [string, string]> = [
  (r) => ['quota', r.quota === 0 ? 'unlimited' : `${formatSize(r.quota)} (${r.quota} bytes)`],
  (r) => ['password', r.password ? 'set' : 'none (keys only)'],
  (r) => ['keys', r.keys.length === 0 ? 'none' : r.keys.map((k) => k.split(' ')[0]).join(', ')],
  (r) => ['disabled', r.disabled ? 'yes' : 'no'],
  (r) => ['expires', r.expires ?? 'never'],
  // bandwidth: the effective rate, and whether it is the config's default
  (r, cfg) => ['upload rate', shownRate(effectiveRates(r, cfg.rates).upload, r.uploadRate)],
  (r, cfg) => ['download rate', shownRate(effectiveRates(r, cfg.rates).download, r.downloadRate)],
];

function shownRate(effective: number, own: number | undefined): string {
  return own === undefined ? `${formatRate(effective)}, the default` : formatRate(effective);
}

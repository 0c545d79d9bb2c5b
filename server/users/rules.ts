// The per-user rules an administrator sets with `jailsftpd user set NAME --OPTION VALUE` and reads
// with `jailsftpd user show NAME`: one entry per rule, with its option, how it changes the record
// and how it is shown. A new rule is one new entry here (and its field in UserRecord).
import { formatSize, parseSize } from '../../common/format.js';
import { parseCidrList } from '../account/address-rules.js';
import { effectiveRates } from '../account/rates.js';
import type { Config } from '../config.js';
import { parseExpiry, type UserRecord } from './store.js';
import { PERMS, READ_ONLY, describeRules, parsePermArg } from '../account/permissions.js';

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
  // ---- permissions (issue 13) ----
  {
    option: 'read-only',
    type: 'boolean',
    help: '--read-only            default rights: list, download, check (per-directory --perm rules stay)',
    apply(r) {
      r.perms = { ...r.perms, default: [...READ_ONLY] };
      return `default permissions ${READ_ONLY.join(',')}`;
    },
  },
  {
    option: 'read-write',
    type: 'boolean',
    help: '--read-write           default rights: all (the default when nothing is set)',
    apply(r) {
      const paths = r.perms?.paths;
      if (paths && Object.keys(paths).length > 0) r.perms = { paths };
      else delete r.perms;
      return 'default permissions all';
    },
  },
  {
    option: 'perm',
    type: 'string',
    multiple: true,
    help: `--perm PATH=PERM,…      rights in PATH and below (most specific wins; PATH= removes; none):\n                           ${PERMS.join(',')}`,
    apply(r, value) {
      const out: string[] = [];
      for (const arg of Array.isArray(value) ? value : [String(value)]) {
        const { path, perms } = parsePermArg(arg);
        const paths = { ...r.perms?.paths };
        if (perms === 'remove') delete paths[path];
        else paths[path] = perms;
        r.perms = { ...r.perms, paths };
        if (Object.keys(paths).length === 0) delete r.perms.paths;
        if (r.perms.default === undefined && r.perms.paths === undefined) delete r.perms;
        out.push(
          perms === 'remove' ? `${path} rule removed` : `${path}=${perms.join(',') || 'none'}`,
        );
      }
      return `permissions ${out.join(', ')}`;
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
  // second factor: on or off, never the secret
  (r) => ['totp', r.totp ? 'on (a code after the password or key)' : 'off'],
  (r) => ['permissions', describeRules(r.perms)],
  // address rules (issue 13)
  (r) => ['allowFrom', r.allowFrom?.length ? r.allowFrom.join(',') : 'anywhere'],
  (r) => ['denyFrom', r.denyFrom?.length ? r.denyFrom.join(',') : 'none'],
  // bandwidth: the effective rate, and whether it is the config's default
  (r, cfg) => ['upload rate', shownRate(effectiveRates(r, cfg.rates).upload, r.uploadRate)],
  (r, cfg) => ['download rate', shownRate(effectiveRates(r, cfg.rates).download, r.downloadRate)],
];

function shownRate(effective: number, own: number | undefined): string {
  return own === undefined ? `${formatRate(effective)}, the default` : formatRate(effective);
}

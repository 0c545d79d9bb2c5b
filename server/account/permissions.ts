// Per-user permissions: which operations a user may do where. A user has default rights and rights
// per directory (a rule for /a holds for /a and everything below it; the most specific rule wins).
// Pure functions: the rules as stored in the user record, their parsing for `user set --perm`,
// and the rights at a path as the user sees it (normalised, inside the jail).
import { posix } from 'node:path';

export const PERMS = [
  'list',
  'download',
  'upload',
  'overwrite',
  'delete',
  'rename',
  'mkdir',
  'chmod',
  'check',
] as const;
export type Perm = (typeof PERMS)[number];

/** `--read-only`: see, fetch and hash files, change nothing. */
export const READ_ONLY: readonly Perm[] = ['list', 'download', 'check'];

/** As stored in the user record; absent = every right everywhere. */
export interface PermRules {
  /** the rights where no path rule applies; absent = all */
  default?: Perm[];
  /** directory (absolute, normalised) → its rights and those of everything below it */
  paths?: Record<string, Perm[]>;
}

/** A path as the user sees it: absolute, normalised, no trailing slash. */
export function normalizePath(path: string): string {
  const p = posix.resolve('/', posix.normalize('/' + path));
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

/** The rule path that governs `path` (the longest one equal to it or above it), if any. */
export function governingRule(paths: readonly string[], path: string): string | undefined {
  let best: string | undefined;
  for (const p of paths) {
    const covers = p === '/' || path === p || path.startsWith(p + '/');
    if (covers && (best === undefined || p.length > best.length)) best = p;
  }
  return best;
}

/** The rights of a list, one set per list (rules are replaced, never changed in place). */
const sets = new WeakMap<readonly Perm[], ReadonlySet<Perm>>();

function setOf(list: readonly Perm[]): ReadonlySet<Perm> {
  let s = sets.get(list);
  if (!s) sets.set(list, (s = new Set(list)));
  return s;
}

/** Whether the rights are the same at every path (no rule for a directory). */
export function sameEverywhere(rules: PermRules | undefined): boolean {
  for (const _ in rules?.paths ?? {}) return false;
  return true;
}

/** The rights at a path (normalised by the caller). */
export function rightsAt(rules: PermRules | undefined, path: string): ReadonlySet<Perm> {
  const paths = rules?.paths;
  const rule =
    paths && !sameEverywhere(rules) ? governingRule(Object.keys(paths), path) : undefined;
  return setOf(rule !== undefined ? paths![rule]! : (rules?.default ?? PERMS));
}

/** A comma-separated list of rights ("" = none); throws on an unknown name. */
export function parsePerms(text: string): Perm[] {
  const out: Perm[] = [];
  for (const word of text.split(',').map((w) => w.trim())) {
    if (word === '') continue;
    if (!(PERMS as readonly string[]).includes(word))
      throw new Error(`unknown permission "${word}" (known: ${PERMS.join(', ')})`);
    if (!out.includes(word as Perm)) out.push(word as Perm);
  }
  return out;
}

/**
 * One `--perm PATH=PERM,PERM…` argument: the directory and its rights, or `remove` for `PATH=`.
 * Use `PATH=none` for a directory where nothing is allowed.
 */
export function parsePermArg(arg: string): { path: string; perms: Perm[] | 'remove' } {
  const eq = arg.indexOf('=');
  if (eq < 0) throw new Error(`expected PATH=PERM,PERM… (or PATH= to remove), got "${arg}"`);
  const raw = arg.slice(0, eq);
  if (!raw.startsWith('/'))
    throw new Error(`the path must be absolute (as the user sees it): "${raw}"`);
  const path = normalizePath(raw);
  const value = arg.slice(eq + 1).trim();
  if (value === '') return { path, perms: 'remove' };
  return { path, perms: value === 'none' ? [] : parsePerms(value) };
}

/** How the rules read in `user show`. */
export function describeRules(rules: PermRules | undefined): string {
  const all = (l: readonly Perm[]) =>
    l.length === PERMS.length ? 'all' : l.length === 0 ? 'none' : l.join(',');
  const parts = [`default ${all(rules?.default ?? PERMS)}`];
  for (const [p, l] of Object.entries(rules?.paths ?? {}).sort(([a], [b]) => a.localeCompare(b)))
    parts.push(`${p}=${all(l)}`);
  return parts.join('; ');
}

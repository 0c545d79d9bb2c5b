// Local file-system helpers: ~ expansion, globbing, listing.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { CmdError } from './errors.js';
import { globRegExp, hasGlob } from './paths.js';

export function expandLocal(p: string): string {
  if (p === '~' || p.startsWith('~/')) return homedir() + p.slice(1);
  return p;
}

export function resolveLocal(p: string): string {
  return resolve(expandLocal(p));
}

/** Expands a glob in the last path component; a plain path is returned as it is. */
export function globLocal(pattern: string): string[] {
  const p = expandLocal(pattern);
  if (!hasGlob(basename(p))) return [p];
  const dir = dirname(p);
  const re = globRegExp(basename(p));
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    names = [];
  }
  const hits = names
    .filter((n) => re.test(n) && (!n.startsWith('.') || basename(p).startsWith('.')))
    .sort()
    .map((n) => (dir === '.' && !pattern.startsWith('./') ? n : join(dir, n)));
  if (hits.length === 0) throw new CmdError(`${pattern}: no match`);
  return hits;
}

export function isLocalDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function localSizeOrNull(p: string): number | null {
  try {
    const st = statSync(p);
    return st.isFile() ? st.size : null;
  } catch {
    return null;
  }
}

let cachedVersion: string | undefined;
export function clientVersion(): string {
  if (!cachedVersion) {
    const pkg = JSON.parse(
      readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8'),
    ) as { version?: string };
    cachedVersion = pkg.version ?? '0.0.0';
  }
  return cachedVersion;
}

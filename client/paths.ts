// Remote path arithmetic (POSIX), with the jail rule: `..` at the root stays at the root, and we remember
// that the path tried to go above it.

export interface Resolved {
  path: string;
  /** the path tried to leave the root */
  escaped: boolean;
}

export function resolveRemote(cwd: string, p: string, home = '/'): Resolved {
  let input = p;
  if (input === '~' || input.startsWith('~/')) input = home + input.slice(1);
  const base = input.startsWith('/') ? [] : cwd.split('/').filter(Boolean);
  let escaped = false;
  for (const part of input.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (base.length === 0) escaped = true;
      else base.pop();
    } else base.push(part);
  }
  return { path: '/' + base.join('/'), escaped };
}

export function joinRemote(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

export function basenameRemote(p: string): string {
  const parts = p.split('/').filter(Boolean);
  return parts[parts.length - 1] ?? '/';
}

export function dirnameRemote(p: string): string {
  const i = p.replace(/\/+$/, '').lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

/** Quotes a word for a POSIX shell, only when it needs it. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function hasGlob(s: string): boolean {
  return /[*?[]/.test(s);
}

/** A glob for one path component (`*`, `?`, `[...]`) as a regular expression. */
export function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const j = glob.indexOf(']', i + 2);
      if (j < 0) re += '\\[';
      else {
        let set = glob.slice(i + 1, j);
        if (set.startsWith('!')) set = '^' + set.slice(1);
        re += `[${set.replace(/\\/g, '\\\\')}]`;
        i = j;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

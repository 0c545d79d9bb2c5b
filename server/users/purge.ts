// `user del --purge`: removes a user's home, and nothing else. A home outside the homes directory
// (an administrator's `--home /srv/shared`) is removed only with --force, and no symbolic link is
// ever followed: not a link inside the home, not a home that is itself a link, not a link swapped
// in while the removal runs (every step goes through a descriptor of a directory already opened
// without following links, as jail.ts does).
import {
  closeSync,
  constants as C,
  lstatSync,
  openSync,
  readdirSync,
  realpathSync,
  rmdirSync,
  unlinkSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

const FD_DIR = `/proc/${process.pid}/fd`;
const DIR_FLAGS = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;

/** A purge refused before anything was removed. */
export class PurgeRefused extends Error {}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** The real location of a path whose last component is not followed. */
function realLocation(p: string): string {
  const abs = resolve(p);
  try {
    return join(realpathSync(dirname(abs)), basename(abs));
  } catch {
    return abs;
  }
}

function inside(dir: string, p: string): boolean {
  return p.startsWith(dir.endsWith('/') ? dir : dir + '/');
}

/** Empties the directory open as fd, never following a link. */
function emptyDir(fd: number): void {
  const base = `${FD_DIR}/${fd}`;
  for (const name of readdirSync(base)) {
    const p = `${base}/${name}`;
    if (!lstatSync(p).isDirectory()) {
      unlinkSync(p);
      continue;
    }
    let sub: number;
    try {
      sub = openSync(p, DIR_FLAGS);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ELOOP' && code !== 'ENOTDIR') throw e;
      unlinkSync(p); // swapped for a link or a file meanwhile: remove that name only
      continue;
    }
    try {
      emptyDir(sub);
    } finally {
      closeSync(sub);
    }
    rmdirSync(p);
  }
}

/**
 * Removes the home `home` of a user whose homes live in `homes`. Refuses (PurgeRefused, nothing
 * removed) a home outside `homes` unless `force`, and a home that is a link, a file, or the homes
 * directory itself. With `force`, a home that is a link loses the link only. Returns what it did.
 * `afterChecks` runs once the checks have passed, before anything is removed.
 */
export async function purgeHome(
  home: string,
  homes: string,
  force: boolean,
  /** runs once the checks have passed, before anything is removed (deletes the record) */
  afterChecks: () => Promise<unknown> | void = () => undefined,
): Promise<string> {
  const st = lstatOrUndefined(home);
  if (!st) {
    await afterChecks();
    return `home ${home} did not exist`;
  }
  let realHomes: string;
  try {
    realHomes = realpathSync(homes);
  } catch {
    realHomes = resolve(homes);
  }
  const where = realLocation(home);
  if (where === realHomes || where === '/') {
    throw new PurgeRefused(`home ${home} is the homes directory or /: not removed`);
  }
  if (!inside(realHomes, where) && !force) {
    throw new PurgeRefused(
      `home ${home} lies outside the homes directory ${homes}: not removed (use --force to remove it anyway)`,
    );
  }
  if (st.isSymbolicLink()) {
    if (!force)
      throw new PurgeRefused(
        `home ${home} is a symbolic link: not removed (use --force to remove the link only)`,
      );
    await afterChecks();
    unlinkSync(home);
    return `removed the link ${home} (not what it points to)`;
  }
  if (!st.isDirectory()) throw new PurgeRefused(`home ${home} is not a directory: not removed`);
  const fd = openSync(home, DIR_FLAGS);
  await afterChecks();
  try {
    emptyDir(fd);
  } finally {
    closeSync(fd);
  }
  rmdirSync(home);
  return `removed ${home}`;
}

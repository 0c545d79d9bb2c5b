// How the filesystem calls of a home run (Jail.io): `sync` on the event loop, the fast path for a
// home on a local filesystem, or `pool` in libuv's thread pool through the home's gate (gate.ts),
// for a home on a network or FUSE filesystem, where any call may hang for as long as its server
// does and a synchronous one would stall every user of the node.
//
// Config `homesIo`: `sync` or `pool` for every home, or `auto` (the default): a home whose own
// filesystem (statfs f_type) is a known local one, with no other filesystem mounted beneath it
// that is not, is `sync`; anything else (NFS, SMB/CIFS, Ceph, 9p, FUSE, which covers GlusterFS and
// sshfs, or a type we do not know) is `pool`. The statfs runs in the pool through the home's gate
// with a timeout: a home that does not answer is `pool`. Decisions are remembered for a while.
//
// The timeout counts the home's own slowness only: a pool that is busy (password checks), threads
// waiting for a CPU or a late event loop delay the home's statfs without its filesystem being at
// fault. Counted from the clock alone, 256 uploads at load average 70 made a local ext4 home `pool`
// (with 1 pool thread for it, its logins then waited 10 s in its gate and were refused).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { statfs, realpath } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, resolve } from 'node:path';
import { log } from '../log.js';
import { errorCode } from './errors.js';
import { runIn } from './gate.js';
import type { HomeIo } from './jail.js';

export type HomesIo = 'auto' | HomeIo;

/** statfs f_type of filesystems served by the local kernel (shared with bin/jailsftpd.cjs) */
const LOCAL_TYPES = new Set(
  createRequire(import.meta.url)('../../../bin/local-fs-types.cjs') as number[],
);
/** the same, as /proc/self/mountinfo names them (for filesystems mounted beneath a home) */
const LOCAL_NAMES = new Set(
  'ext2 ext3 ext4 xfs btrfs tmpfs ramfs overlay zfs f2fs bcachefs reiserfs jfs nilfs2 vfat exfat ntfs3 erofs squashfs ecryptfs'.split(
    ' ',
  ),
);

/** how long the statfs of a home may take (while the pool answers others) before it counts as `pool` */
export const DETECT_MS = 2000;
/** the longest a decision waits, however slow the machine (then `pool`) */
const DETECT_CAP_MS = 30_000;
/** how long a decision is remembered (one that timed out: a shorter while) */
const KEEP_MS = 60_000;
const KEEP_TIMEOUT_MS = 5_000;

let setting: HomesIo = 'auto';
/** the server logs its decisions (admin commands, which also scan homes, keep stdout for output) */
let announce = false;
const known = new Map<string, { io: HomeIo; until: number }>();
const pending = new Map<string, Promise<HomeIo>>();

/** Sets the config's choice (at start and on reload); forgets what auto decided. */
export function setHomesIo(s: HomesIo): void {
  setting = s;
  announce = true;
  known.clear();
}

/** How the calls of `home` (its path as configured) run; see the top of this file. */
export function homeIo(home: string): Promise<HomeIo> {
  if (setting !== 'auto') return Promise.resolve(setting);
  const k = known.get(home);
  if (k && k.until > performance.now()) return Promise.resolve(k.io);
  let p = pending.get(home);
  if (!p) {
    p = detect(home).finally(() => pending.delete(home));
    pending.set(home, p);
  }
  return p;
}

async function detect(home: string): Promise<HomeIo> {
  let answers = 0;
  const probe = runIn(home, () => probeFs(home, () => answers++)).catch((e: unknown) => {
    if (announce) log('home.io_error', { home, error: (e as Error).message });
    return undefined;
  });
  const stop = new AbortController();
  const late = overdue(() => answers, stop.signal).catch(() => undefined);
  const found = await Promise.race([probe, late]);
  stop.abort();
  let io: HomeIo;
  let why: string;
  if (!found) {
    io = 'pool';
    why = 'statfs did not answer';
  } else {
    const sub = found.mounts.find((m) => !LOCAL_NAMES.has(m.type));
    const local = LOCAL_TYPES.has(found.type);
    io = local && !sub ? 'sync' : 'pool';
    why = `type=0x${found.type.toString(16)}` + (sub ? ` mount=${sub.at} ${sub.type}` : '');
  }
  const keep = found ? KEEP_MS : KEEP_TIMEOUT_MS;
  known.set(home, { io, until: performance.now() + keep });
  if (announce) log('home.io', { home, io, why });
  return io;
}

/**
 * Resolves once the home's probe has not answered any call for DETECT_MS while the pool went on
 * answering others (or after DETECT_CAP_MS in all). Each wait ends with a statfs of /proc (the
 * kernel answers it from memory) sent through the pool: it comes back only after the calls queued
 * before it have been taken up by a thread, and through the same event loop, so a probe that made
 * no progress by then is held by its filesystem, not by a busy pool, a starved CPU or a late loop.
 */
async function overdue(answers: () => number, signal: AbortSignal): Promise<undefined> {
  const cap = performance.now() + DETECT_CAP_MS;
  const capped = sleep(DETECT_CAP_MS, undefined, { signal });
  capped.catch(() => undefined); // rejects when aborted, maybe after the loop has returned
  for (;;) {
    const seen = answers();
    await Promise.race([sleep(DETECT_MS, undefined, { signal }), capped]);
    await Promise.race([statfs('/proc').catch(() => undefined), capped]);
    if (answers() === seen || performance.now() >= cap) return undefined;
  }
}

/**
 * statfs of the home (or of the nearest directory above it while it does not exist yet);
 * `answered` counts each call that came back.
 */
async function probeFs(
  home: string,
  answered: () => void,
): Promise<{ type: number; mounts: Mount[] }> {
  let at = resolve(home);
  for (;;) {
    try {
      const s = await statfs(at).finally(answered);
      const real = await realpath(at).finally(answered);
      return { type: s.type, mounts: mountsBeneath(real) };
    } catch (e) {
      const up = dirname(at);
      if (errorCode(e) !== 'ENOENT' || up === at) throw e;
      at = up;
    }
  }
}

interface Mount {
  at: string;
  type: string;
}

/** Filesystems mounted beneath a directory (procfs: never waits on a home's filesystem). */
function mountsBeneath(dir: string): Mount[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: Mount[] = [];
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  for (const line of text.split('\n')) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 7 || sep < 0) continue;
    const at = f[4]!.replace(/\\([0-7]{3})/g, (_, o: string) =>
      String.fromCharCode(parseInt(o, 8)),
    );
    if (at.startsWith(prefix)) out.push({ at, type: f[sep + 1] ?? '' });
  }
  return out;
}

// Open files of a session: opening inside the jail, reads, writes and resizes through the quota
// ledger, and the close that reconciles the ledger with the disk (and remembers a streamed digest).
// Functions over an FsContext (the session's jail and ledger); UserFs (userfs.ts) is their facade.
import { constants as C, type Stats } from 'node:fs';
import { errno, errorCode, NotAllowedError } from './errors.js';
import { using, type Jail } from './jail.js';
import type { QuotaLedger, TrackedFile } from './quota.js';
import { remember, RunningHash } from './digests.js';
import { pread, pwriteAll } from './io.js';
import { releaseHandle, takeHandle } from './handle-budget.js';
import type { OpenFlags, SetAttrs, StoredFile } from './storage.js';

/**
 * Files at least this large keep their digest for a later hash request (`sha256sum` right after
 * the upload: digests.ts). Below it, hashing the file again when asked costs about what remembering
 * costs every upload (an fstat after the writes, a futimes and an fstat at close), and most small
 * uploads are never asked for.
 */
export const REMEMBER_MIN = 64 * 1024;

/** writes in flight per open inode: the last one to finish records the mtime (see write) */
const writing = new WeakMap<TrackedFile, number>();

/** What the storage functions work on: one user's jail and quota ledger. */
export interface FsContext {
  readonly jail: Jail;
  readonly ledger: QuotaLedger;
  /**
   * Whether an upload's running hash keeps writes out of order aside (RunningHash, digests.ts):
   * true where something reads the digest of each upload (the audit log, upload hooks). Read at
   * each open and truncation to 0.
   */
  readonly keepAhead: boolean;
  /**
   * Whether an upload written from offset 0 is hashed as it arrives (Config.uploadDigests): where
   * nothing reads its digest, the hash (a third of an upload's CPU) is left to whoever asks for it
   * later (`sha256sum`, check-file), which then reads the file. Read at each open and truncation.
   */
  readonly digests: boolean;
}

export class OpenFile implements StoredFile {
  closed = false;
  /** counted in the open-handle budget (handle-budget.ts) */
  counted = false;
  /** set at close when this handle wrote the whole file from offset 0, without overlaps (digests.ts) */
  sha256?: string;
  /** the quota refused a write at this offset: writes beyond it are refused too (see write) */
  refused?: { at: number; error: Error };
  /** where it is, as the client sees it (set by open) */
  where?: string;
  /** this open created it */
  created = false;
  /** the size last seen by a handle that does not write (see sizeSeen) */
  private seen: number;
  constructor(
    readonly fd: number,
    readonly path: string,
    readonly readable: boolean,
    /** set when the file is open for writing: its shared size bookkeeping */
    readonly tracked: TrackedFile | undefined,
    readonly append: boolean,
    size = 0,
  ) {
    this.seen = size;
  }
  /** as the ledger counts it while open for writing; else as of the open and this handle's reads */
  get sizeSeen(): number {
    return this.tracked ? this.tracked.size : this.seen;
  }
  /** A read of this handle ended at `end`. */
  sawEnd(end: number): void {
    if (end > this.seen) this.seen = end;
  }
}

export async function open(
  fs: FsContext,
  path: string,
  flags: OpenFlags,
  mode = 0o644,
): Promise<OpenFile> {
  const jail = fs.jail;
  const jp = jail.normalize(path);
  const write = flags.write || flags.append;
  const access = flags.read && write ? C.O_RDWR : write ? C.O_WRONLY : C.O_RDONLY;
  const base = access | C.O_NONBLOCK; // never O_TRUNC, never O_APPEND
  let fd = -1;
  /** the real path of what fd is */
  let real = '';
  /** its status, taken before it was opened (existing objects only) */
  let before: Stats | undefined;
  if (flags.create) {
    // as OpenSSH: CREAT creates a missing file even on a read-only open
    const { dir, name } = await jail.parent(jp);
    const how = base | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
    fd = await using(dir, async () => {
      try {
        const created = await jail.run((s) => s.open(dir.at(name), how, mode & 0o777));
        real = `${dir.real}/${name}`;
        return created;
      } catch (e) {
        if (errorCode(e) !== 'EEXIST' || flags.exclusive) throw e;
        return -1;
      }
    });
  }
  const created = fd >= 0;
  if (fd < 0) {
    // an existing object: find it (O_PATH), prove it lies inside, and only then open that very
    // inode, so that nothing outside is ever opened and an outside object answers like a missing
    // one (opening first answered EISDIR for a link to an outside directory)
    fd = await using(await jail.resolve(jp, true), async (r) => {
      const st = await jail.run((s) => s.fstat(r.fd));
      if (st.isDirectory()) throw errno('EISDIR', 'is a directory');
      if (!st.isFile()) throw new NotAllowedError('not a regular file');
      const opened = await jail.run((s) => s.open(r.at(), base));
      real = r.real;
      before = st;
      return opened;
    });
  }
  // No second check of where fd is: it is a new file made with O_EXCL|O_NOFOLLOW in a verified
  // directory (a plain name: no "/", "." or ".."), or the verified regular file itself, reopened
  // through its descriptor's magic link (which names that inode, not a path to walk again).
  // A handle that writes takes its size and identity from the open descriptor, for the ledger.
  let st: Stats;
  if (before && !write) st = before;
  else {
    try {
      st = await jail.run((s) => s.fstat(fd));
      if (st.isDirectory()) throw errno('EISDIR', 'is a directory');
      if (!st.isFile()) throw new NotAllowedError('not a regular file');
    } catch (e) {
      await jail.closeFd(fd).catch(() => undefined);
      throw e;
    }
  }
  const tracked = write ? fs.ledger.track(st.dev, st.ino, st.size) : undefined;
  if (tracked && tracked.refs === 1) {
    tracked.running?.release();
    tracked.running = st.size === 0 && fs.digests ? new RunningHash(fs.keepAhead) : undefined;
  }
  const file = new OpenFile(fd, jp, flags.read || !write, tracked, flags.append, st.size);
  file.where = jail.toClient(real) ?? jp;
  file.created = created;
  try {
    takeHandle(fs.ledger); // the user's and the server's budget of open handles
    file.counted = true;
    if (flags.truncate && tracked && st.size > 0) await resize(fs, file, 0);
  } catch (e) {
    await close(fs, file);
    throw e;
  }
  return file;
}

export async function read(
  fs: FsContext,
  file: OpenFile,
  offset: number,
  length: number,
  into: Buffer,
  at: number,
): Promise<number> {
  if (!file.readable) throw errno('EBADF', 'file not open for reading');
  const n = await pread(fs.jail, file.fd, into, at, length, offset);
  const end = offset + n;
  if (end > file.sizeSeen && !file.tracked) {
    file.sawEnd(end);
    // it grew past what this handle knew: learn how far, so that later READs are sized by it
    if (n === length) file.sawEnd((await fs.jail.run((s) => s.fstat(file.fd))).size);
  }
  return n;
}

/** Writes data at offset (at the end for an APPEND handle), after reserving any growth. */
export async function write(
  fs: FsContext,
  file: OpenFile,
  offset: number,
  data: Buffer,
): Promise<void> {
  const t = file.tracked;
  if (!t) throw errno('EBADF', 'file not open for writing');
  // Once the quota refused a write on this handle, writes beyond it are refused too, even if room
  // came back meanwhile (space freed, a cluster node's grant refilled), until the refused range is
  // written: OpenSSH sftp keeps only the status of the LAST write it hears back about, so a refusal
  // followed by successes of its pipelined writes would end as a "successful" upload with a hole
  // of zeros where the refused write should have been.
  const refused = file.refused;
  if (refused && !file.append && offset > refused.at) throw refused.error;
  await t.acquire(false);
  writing.set(t, (writing.get(t) ?? 0) + 1);
  try {
    let at: number;
    try {
      const r = reserveGrowth(fs, t, file.append ? undefined : offset, data.length);
      at = typeof r === 'number' ? r : await r;
    } catch (e) {
      const earlier = file.refused;
      if (errorCode(e) === 'EQUOTA' && !(earlier && earlier.at <= offset))
        file.refused = { at: offset, error: e as Error };
      throw e;
    }
    if (
      refused &&
      file.refused === refused &&
      offset <= refused.at &&
      offset + data.length > refused.at
    )
      file.refused = undefined;
    if (t.running && !t.running.feed(at, data)) t.running = undefined;
    try {
      await pwriteAll(fs.jail, file.fd, data, at);
      // what our own writes left as mtime (a different one at close means someone else wrote):
      // read once the last write in flight is done, not after each of a pipelined stream, and
      // only for a file whose digest close will remember
      if (t.running && writing.get(t) === 1 && t.running.end >= REMEMBER_MIN)
        t.writtenMtime = (await fs.jail.run((s) => s.fstatBig(file.fd))).mtimeNs;
    } catch (e) {
      t.running?.release();
      t.running = undefined;
      await reconcile(fs, file);
      throw e;
    }
  } finally {
    writing.set(t, writing.get(t)! - 1);
    t.release(false);
  }
}

/**
 * Reserves what writing `length` bytes at `offset` (at the end when undefined: append) adds to the
 * file, and returns where to write: synchronously while the ledger answers at once (no extra tick
 * on the common write).
 */
function reserveGrowth(
  fs: FsContext,
  t: TrackedFile,
  offset: number | undefined,
  length: number,
): number | Promise<number> {
  const at = offset ?? t.size;
  const grow = at + length - t.size;
  if (grow <= 0) return at;
  const wait = fs.ledger.reserve(grow);
  if (!wait) {
    t.size += grow;
    return at;
  }
  return growAfterWait(fs, t, offset, length, wait, grow);
}

/**
 * The ledger had to wait (a cluster ledger refilling its grant): other writes may have grown the
 * file meanwhile, so the growth is worked out again and any excess given back.
 */
async function growAfterWait(
  fs: FsContext,
  t: TrackedFile,
  offset: number | undefined,
  length: number,
  wait: Promise<void>,
  asked: number,
): Promise<number> {
  let held = 0; // reserved and not yet added to t.size
  try {
    await wait;
    held = asked;
    for (;;) {
      const at = offset ?? t.size;
      const grow = at + length - t.size;
      if (grow <= held) {
        if (grow > 0) {
          t.size += grow;
          held -= grow;
        }
        return at;
      }
      const more = fs.ledger.reserve(grow - held);
      if (more) await more;
      held = grow;
    }
  } finally {
    if (held > 0) fs.ledger.give(held);
  }
}

/** After a failed write (disk full): count what is really on disk, if no other write is in flight. */
async function reconcile(fs: FsContext, file: OpenFile): Promise<void> {
  const t = file.tracked!;
  if (t.refs > 1) return; // others may have reservations in flight; close reconciles
  try {
    const real = (await fs.jail.run((s) => s.fstat(file.fd))).size;
    if (real < t.size) {
      fs.ledger.give(t.size - real);
      t.size = real;
    }
  } catch {
    /* close reconciles */
  }
}

/** Truncates or extends; growth is reserved, shrinking gives space back at once. */
export async function resize(fs: FsContext, file: OpenFile, size: number): Promise<void> {
  const t = file.tracked;
  if (!t) throw errno('EBADF', 'file not open for writing');
  await t.acquire(true);
  try {
    const cur = (await fs.jail.run((s) => s.fstat(file.fd))).size;
    fs.ledger.correct(cur - t.size);
    t.size = cur;
    if (size > cur) await fs.ledger.reserve(size - cur);
    try {
      await fs.jail.run((s) => s.ftruncate(file.fd, size));
    } catch (e) {
      if (size > cur) fs.ledger.give(size - cur);
      throw e;
    }
    if (size < cur) fs.ledger.give(cur - size);
    t.size = size;
    t.running?.release();
    t.running =
      size === 0 && t.refs === 1 && fs.digests ? new RunningHash(fs.keepAhead) : undefined;
  } finally {
    t.release(true);
  }
}

export function fstat(fs: FsContext, file: OpenFile): Promise<Stats> {
  return fs.jail.run((s) => s.fstat(file.fd));
}

export async function fsetstat(fs: FsContext, file: OpenFile, a: SetAttrs): Promise<void> {
  if (a.size !== undefined) await resize(fs, file, a.size);
  if (a.permissions !== undefined) {
    const mode = a.permissions & 0o777;
    await fs.jail.run((s) => s.fchmod(file.fd, mode));
  }
  if (a.atime !== undefined && a.mtime !== undefined) {
    const { atime, mtime } = a;
    await fs.jail.run((s) => s.futimes(file.fd, atime, mtime));
  }
}

export async function fsync(fs: FsContext, file: OpenFile): Promise<void> {
  await fs.jail.run((s) => s.fsync(file.fd));
}

export async function close(fs: FsContext, file: OpenFile): Promise<void> {
  if (file.closed) return;
  file.closed = true;
  if (file.counted) releaseHandle(fs.ledger);
  const t = file.tracked;
  const run = fs.jail.run.bind(fs.jail);
  if (t) {
    // wait for writes in flight on this inode, then reconcile the ledger with the disk
    await t.acquire(true);
    try {
      let disk = { size: t.size, nlink: 1 };
      try {
        let st = await run((s) => s.fstatBig(file.fd));
        disk = { size: Number(st.size), nlink: Number(st.nlink) };
        // the last writer closes a file written whole from offset 0 (in sequence, or with the
        // writes out of order that came together): its digest (and, for a file of REMEMBER_MIN or
        // more, remember it)
        const h = t.running;
        const ours = t.writtenMtime === undefined || t.writtenMtime === st.mtimeNs;
        if (t.refs === 1 && h?.whole && h.pos === disk.size && ours && disk.nlink > 0) {
          const digest = h.digest();
          if (disk.size >= REMEMBER_MIN && t.writtenMtime !== undefined) {
            // File times are coarse (a clock tick): a write by someone else within the same tick
            // would leave mtime as it is and the digest stale. Setting mtime 10 ms back makes any
            // later write change it, so the entry no longer matches.
            const atime = Number(st.atimeNs) / 1e9;
            const mtime = Number(st.mtimeNs) / 1e9 - 0.01;
            await run((s) => s.futimes(file.fd, atime, mtime));
            st = await run((s) => s.fstatBig(file.fd));
            remember(t.key, st, digest);
          }
          file.sha256 = digest.toString('hex');
        }
      } catch {
        /* keep the tracked size */
      }
      // the last handle: what the hash kept aside (a file left with a hole) is given back
      if (t.refs === 1) t.running?.release();
      fs.ledger.untrack(t, disk);
    } finally {
      t.release(true);
    }
  }
  await fs.jail.closeFd(file.fd);
}

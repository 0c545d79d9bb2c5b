// One file from one side to the other, for put, get, reput, reget and the trees: where it lands,
// whether to resume (after checking the part already there), the transfer, and the sha256 check.
// The direction is data (Way): put and get run the same routine.
import { humanSize, percent } from '../../common/format.js';
import { remoteRangeSha256 } from '../check-file.js';
import { CmdError, Interrupted, describe } from '../errors.js';
import { streamHash, type StreamHash } from '../hasher.js';
import { dirnameRemote } from '../paths.js';
import { Progress } from '../progress.js';
import { askChoice, askConfirm } from '../prompts.js';
import { transfer, type Direction } from '../transfer.js';
import { onPath } from './args.js';
import type { Ctx } from './context.js';
import { LOCAL, REMOTE, type Side } from './sides.js';

/** A direction, as data: which side sends, and the words that differ. */
export interface Way {
  cmd: 'put' | 'get';
  direction: Direction;
  from: Side;
  to: Side;
  /** the progress label: "File sending", "File receiving" */
  label: string;
  /** asked and said when the part there does not match: "Send" / "sending" */
  again: [ask: string, doing: string];
  /** what a server lacks when the remote prefix cannot be hashed */
  lacking: string;
  /** sha256 of the first `length` bytes of the remote file (null: the server cannot tell) */
  remotePrefix(ctx: Ctx, path: string, length: number): Promise<string | null>;
}

export const PUT: Way = {
  cmd: 'put',
  direction: 'upload',
  from: LOCAL,
  to: REMOTE,
  label: 'File sending',
  again: ['Send', 'sending'],
  lacking: 'sha256sum',
  // the remote file is the partial one: all of it is the prefix
  remotePrefix: (ctx, path) => ctx.remote.remoteSha256(path, ctx.signal),
};

export const GET: Way = {
  cmd: 'get',
  direction: 'download',
  from: REMOTE,
  to: LOCAL,
  label: 'File receiving',
  again: ['Fetch', 'fetching'],
  lacking: 'check-file-name',
  remotePrefix: (ctx, path, length) =>
    ctx.remote.hasExt('check-file-name')
      ? remoteRangeSha256(ctx.remote.ssh, path, 0, length, { signal: ctx.signal })
      : Promise.resolve(null),
};

/** 'ask' (put, get), 'resume' (reput, reget) or 'overwrite' (a transfer sent again). */
export type Start = 'ask' | 'resume' | 'overwrite';

type Resume = 'resume' | 'overwrite' | 'skip';

async function askResume(ctx: Ctx, what: string, have: number, size: number): Promise<Resume> {
  const msg = `${what} is partial: ${humanSize(have)} of ${humanSize(size)} (${percent(have, size)}).`;
  if (ctx.batch || ctx.yes) {
    ctx.out(`${msg} Resuming.`);
    return 'resume';
  }
  return askChoice<Resume>(`${msg} What now?`, [
    { name: 'Resume from where it stopped', value: 'resume' },
    { name: 'Overwrite from the start', value: 'overwrite' },
    { name: 'Skip this file', value: 'skip' },
  ]);
}

export async function quotaMessage(ctx: Ctx, dir: string, needed?: number): Promise<CmdError> {
  const space = await ctx.remote.diskSpace(dir).catch(() => null);
  const free = space ? `${humanSize(space.free)} free` : 'no space left';
  const want = needed !== undefined ? `, ${humanSize(needed)} needed` : '';
  return new CmdError(`not enough quota! ${free}${want}`, true);
}

const VERIFY_NOTE = {
  ok: 'sha256 verified',
  unverified: 'could not verify (the server offers no sha256sum)',
  mismatch: '',
};

/** The two paths of a transfer, named by side. */
function localRemote(way: Way, src: string, dst: string): { local: string; remote: string } {
  return way.from === LOCAL ? { local: src, remote: dst } : { local: dst, remote: src };
}

/**
 * Before a resume: compares the hash of the remote prefix with the local prefix, hashed into
 * `hash`. Returns where to start (0 = the whole file again) or 'skip' when the user declines.
 */
async function checkPrefix(
  ctx: Ctx,
  way: Way,
  src: string,
  dst: string,
  start: number,
  size: number,
  hash: StreamHash,
): Promise<number | 'skip'> {
  const { local, remote } = localRemote(way, src, dst);
  const [rh, prefix] = await Promise.all([
    way.remotePrefix(ctx, remote, start),
    onPath(local, () => hash.prefix(local, start, ctx.signal)).catch((err) => {
      if (ctx.signal.aborted) throw new Interrupted();
      throw err;
    }),
  ]);
  if (ctx.signal.aborted) throw new Interrupted();
  const part = way.to.name;
  if (rh === null) {
    ctx.out(
      `could not verify the ${part} part (the server offers no ${way.lacking}); resuming anyway`,
    );
    return start;
  }
  if (rh !== prefix) {
    ctx.err(`the ${part} part of ${dst} does not match ${src}`);
    if (!ctx.batch && !(await askConfirm(`${way.again[0]} the whole file again?`, true)))
      return 'skip';
    ctx.out(`${way.again[1]} the whole file again`);
    return 0;
  }
  ctx.out(`the ${part} part (${humanSize(start)}) matches; resuming at ${percent(start, size)}`);
  return start;
}

/**
 * Transfers the file `src` to `target` (a file, or a directory to put it in) the way `way` goes.
 * The whole local file is hashed on the way (a resumed prefix first) and compared with the
 * server's sha256 of the remote file: asked after CLOSE for an upload (a jailsftp server answers
 * from the digest it computed while receiving), during the transfer for a download.
 */
export async function transferFile(
  ctx: Ctx,
  way: Way,
  src: string,
  target: string,
  mode: Start,
): Promise<void> {
  const size = await way.from.source(ctx, src, way.cmd);
  let dst = target;
  let there = await way.to.existing(ctx, dst);
  if (there?.dir) {
    dst = way.to.join(dst, way.from.basename(src));
    there = await way.to.existing(ctx, dst);
  }
  const have = there ? there.size : null;
  let start = 0;
  if (mode === 'resume' && have !== null) {
    if (have > size)
      throw new CmdError(
        `${dst}: the ${way.to.name} file is larger than ${src}; nothing to resume`,
      );
    start = have;
  } else if (mode === 'ask' && have !== null && have > 0 && have < size) {
    const choice = await askResume(ctx, dst, have, size);
    if (choice === 'skip') return ctx.out(`skipped ${src}`);
    if (choice === 'resume') start = have;
  }
  const { local, remote } = localRemote(way, src, dst);
  let hash = streamHash(size, ctx.remote.serverIsLocal());
  try {
    if (start > 0) {
      const checked = await checkPrefix(ctx, way, src, dst, start, size, hash);
      if (checked === 'skip') return ctx.out(`skipped ${src}`);
      start = checked;
      if (start === 0) {
        hash.dispose();
        hash = streamHash(size, ctx.remote.serverIsLocal());
      }
    }
    const dir = dirnameRemote(remote);
    if (way.to === REMOTE) {
      const needed = size - (have ?? 0);
      const space = await ctx.remote.diskSpace(dir).catch(() => null);
      if (space && needed > space.free) throw await quotaMessage(ctx, dir, needed);
    }
    const bar = new Progress(`${way.label}: ${way.from.basename(src)}`, size, start, ctx.tty);
    let done = start;
    // a download's source is complete: the server hashes it while we receive it
    const asking = new AbortController();
    const early =
      way.from === REMOTE
        ? ctx.remote.remoteSha256(remote, AbortSignal.any([ctx.signal, asking.signal]))
        : undefined;
    try {
      await transfer({
        direction: way.direction,
        remote: ctx.remote,
        localPath: local,
        remotePath: remote,
        start,
        size,
        signal: ctx.signal,
        onProgress: (d) => bar.update((done = d)),
        hash,
      });
    } catch (err) {
      asking.abort();
      bar.stop(done);
      if (err instanceof Interrupted) {
        ctx.out(
          `interrupted at ${percent(done, size)}: ${dst} is partial; ${way.cmd} or re${way.cmd} resumes it`,
        );
        throw err;
      }
      if (way.to === REMOTE && /quota/i.test(describe(err))) throw await quotaMessage(ctx, dir);
      throw new CmdError(`${remote}: ${describe(err)}`);
    }
    const stats = bar.stop(size);
    const [rh, lh] = await Promise.all([
      early ?? ctx.remote.remoteSha256(remote, ctx.signal),
      hash.digest(),
    ]);
    if (ctx.signal.aborted) throw new Interrupted();
    const v = rh === null ? 'unverified' : rh === lh ? 'ok' : 'mismatch';
    if (v === 'mismatch') {
      ctx.err(`sha256 mismatch: ${dst} differs from ${src}`);
      if (!ctx.batch && (await askConfirm(`${way.again[0]} it again?`, true)))
        return transferFile(ctx, way, src, dst, 'overwrite');
      throw new CmdError(`${dst}: verification failed`);
    }
    ctx.out(`${src} -> ${dst}: ${stats}, ${VERIFY_NOTE[v]}`);
  } finally {
    hash.dispose();
  }
}

// A real slow filesystem for tests: test/py/slowfs.py (FUSE, python3-fusepy) mounted over a scratch
// directory. Operations on any directory named `hung` (and everything in it) wait, unanswered, while
// the filesystem is hung: a stand-in for a hung NFS or CephFS directory. Unmounted at the end.
//
// The test process itself must never touch the mount while it hangs (its own call would sleep in
// the kernel, uninterruptibly): it works on `src`, the directory behind the mount.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Fixture } from './fixture.js';
import { run, spawnChild } from './proc.js';
import { PY } from './tools.js';
import { ROOT } from './server.js';

export interface SlowFs {
  /** the mount point: homes go under it */
  mnt: string;
  /** the directory behind the mount (safe to read and write from the test at any time) */
  src: string;
  /** from now on, operations under a directory named `hung` wait */
  hang(): void;
  /** they go on (the waiting ones answer now) */
  release(): void;
}

function mounted(dir: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === dir);
}

/** Mounts a slow filesystem in a scratch directory; released and unmounted at the end of fx. */
export async function mountSlowFs(fx: Fixture): Promise<SlowFs> {
  const base = fx.tempDir('jailsftp-slowfs-');
  const src = join(base, 'src');
  const mnt = join(base, 'mnt');
  const control = join(base, 'hang');
  mkdirSync(src);
  mkdirSync(mnt);
  const proc = spawnChild(PY, [join(ROOT, 'test/py/slowfs.py'), src, mnt, 'hung', control], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const release = (): void => rmSync(control, { force: true });
  fx.defer(async () => {
    release();
    if (mounted(mnt)) await run('umount', ['-l', mnt], { timeoutMs: 10000 });
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  });
  for (let i = 0; !mounted(mnt); i++) {
    if (proc.exitCode !== null || i > 100) throw new Error(`slowfs did not mount: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    mnt,
    src,
    hang: () => writeFileSync(control, ''),
    release,
  };
}

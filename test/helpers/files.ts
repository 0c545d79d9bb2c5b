// Files for tests: random contents of given sizes, sha256 of buffers and files, sizes, and the usage
// of a home (the sum the quota counts), also sampled while writers run.
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** The events of an audit log (one JSON object per line); none while the file does not exist. */
export function auditEvents<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

/**
 * Whether the server remembered a file's digest when the upload closed (a file of 64 KiB or more
 * hashed as it arrived): it then sets mtime 10 ms back (server/fs/files.ts close), after writes that
 * left mtime = ctime; a file not remembered keeps them equal.
 */
export function remembered(file: string): boolean {
  const st = statSync(file, { bigint: true });
  return st.ctimeNs > st.mtimeNs;
}

export function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/** sha256 of a file, read 1 MiB at a time (files of several GiB are fine). */
export function sha256File(path: string): string {
  const h = createHash('sha256');
  const buf = Buffer.alloc(1 << 20);
  const fd = openSync(path, 'r');
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** Writes size random bytes to path, 1 MiB at a time, and returns their sha256. */
export function randomFile(path: string, size: number): string {
  const chunk = 1 << 20;
  const h = createHash('sha256');
  writeFileSync(path, '');
  for (let off = 0; off < size; off += chunk) {
    const b = randomBytes(Math.min(chunk, size - off));
    h.update(b);
    writeFileSync(path, b, { flag: 'a' });
  }
  return h.digest('hex');
}

/** The file sizes every client test transfers: empty, one byte, around 32 KiB, 5 MiB. */
export const SIZES: [string, number][] = [
  ['empty', 0],
  ['one', 1],
  ['k32m', 32 * 1024 - 1],
  ['k32', 32 * 1024],
  ['k32p', 32 * 1024 + 1],
  ['m5', 5 * 1024 * 1024],
];

/** Writes one file of random bytes per [name, size] into dir; returns name -> contents. */
export function randomFiles(dir: string, sizes: [string, number][] = SIZES): Map<string, Buffer> {
  const data = new Map<string, Buffer>();
  for (const [n, size] of sizes) {
    const b = randomBytes(size);
    data.set(n, b);
    writeFileSync(join(dir, n), b);
  }
  return data;
}

/** The size of a file, or -1 when there is none. */
export function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

/** Sum of the apparent sizes of the regular files under dir (what the quota counts). */
export function usage(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    try {
      if (e.isDirectory()) total += usage(p);
      else if (e.isFile()) total += lstatSync(p).size;
    } catch {
      /* vanished */
    }
  }
  return total;
}

/**
 * Samples usage(dir) every few milliseconds until stop() and returns the largest value seen:
 * the overshoot measurement for concurrent writers.
 */
export function watchUsage(dir: string, everyMs = 2): { stop(): number; samples(): number } {
  let max = 0;
  let n = 0;
  let on = true;
  const tick = (): void => {
    if (!on) return;
    try {
      max = Math.max(max, usage(dir));
      n++;
    } catch {
      /* home not there yet */
    }
    setTimeout(tick, everyMs);
  };
  tick();
  return {
    stop() {
      on = false;
      max = Math.max(max, usage(dir));
      return max;
    },
    samples: () => n,
  };
}

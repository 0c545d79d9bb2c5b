// /proc readings shared by the tests and the bench: a process's resident memory, its open descriptors,
// its descendants, and memory sums over a set of processes.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';

const PAGE = 4096;

export interface StatLine {
  ppid: number;
  /** utime + stime, in clock ticks (1/100 s) */
  cpuTicks: number;
  start: number;
  rssBytes: number;
}

/** Fields of /proc/PID/stat, or undefined when the process is gone. */
export function readStat(pid: number): StatLine | undefined {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // f[0] = field 3 (state): ppid 4, utime 14, stime 15, starttime 22, rss 24
  return {
    ppid: Number(f[1]),
    cpuTicks: Number(f[11]) + Number(f[12]),
    start: Number(f[19]),
    rssBytes: Number(f[21]) * PAGE,
  };
}

/** Resident memory of a process in bytes (VmRSS); throws when the process is gone. */
export function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Open file descriptors of a process. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** VmHWM / VmRSS of one process, bytes (0 when it is gone). */
export function memStatus(pid: number): { rss: number; hwm: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
    return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

/** Resets a process's VmHWM to its current RSS (root, Linux >= 4.0); false if not possible. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

function childPids(pid: number): number[] {
  const out: number[] = [];
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    try {
      for (const x of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' '))
        if (x.trim()) out.push(Number(x));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The pid and all its descendants. */
export function processTree(root: number): number[] {
  const seen: number[] = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    if (seen.includes(p)) continue;
    seen.push(p);
    stack.push(...childPids(p));
  }
  return seen.filter((p) => existsSync(`/proc/${p}`));
}

/** Sum of resident memory of a pid set (bytes). */
export function rssOf(pids: number[]): number {
  let sum = 0;
  for (const p of pids) sum += readStat(p)?.rssBytes ?? 0;
  return sum;
}

/** Sum of proportional set size (shared pages divided among their users), bytes. */
export function pssOf(pids: number[]): number {
  let sum = 0;
  for (const p of pids) {
    try {
      const m = /^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'));
      sum += Number(m?.[1] ?? 0) * 1024;
    } catch {
      /* gone */
    }
  }
  return sum;
}

// A real HAProxy (Debian's `haproxy`) for tests: a generated config (mode tcp, send-proxy-v2,
// health check on the SSH banner, roundrobin over loopback backends), run in the foreground as a
// child (`haproxy -db -f CFG`) and stopped by the fixture. The stats socket tells when every
// backend is up and which one served how many connections.
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { CleanupScope } from './postgres.js';
import { exited, freePort, run, sleep, spawnChild } from './proc.js';

export interface HaproxyOptions {
  /** loopback ports of the nodes */
  backends: number[];
  /** milliseconds between health checks (default 500) */
  checkInterMs?: number;
}

export interface BackendStat {
  /** UP, DOWN… */
  status: string;
  /** connections it was given */
  sessions: number;
  /** the last health check's result: L7OK when it saw the SSH banner */
  check: string;
}

export interface TestHaproxy {
  host: string;
  /** the frontend's port (the one clients use) */
  port: number;
  configFile: string;
  /** HAProxy's process (its CPU is the balancer's cost in the bench) */
  pid: number;
  /** HAProxy's own output (its tcplog lines) */
  output(): string;
  /** per backend server ("node1"…, in the order of `backends`) */
  stats(): Promise<Map<string, BackendStat>>;
  /** waits until every backend is UP */
  ready(timeoutMs?: number): Promise<void>;
}

/** The config the helper runs: also what deploy/haproxy.cfg shows, for ports chosen here. */
export function haproxyConfig(o: {
  listen: string;
  backends: string[];
  statsSocket?: string;
  checkInterMs?: number;
}): string {
  const inter = o.checkInterMs ?? 500;
  return [
    'global',
    '  log stdout format raw local0 info',
    ...(o.statsSocket ? [`  stats socket ${o.statsSocket} mode 600 level admin`] : []),
    '',
    'defaults',
    '  mode tcp',
    '  log global',
    '  option tcplog',
    '  timeout connect 5s',
    '  timeout client 1h',
    '  timeout server 1h',
    '  option splice-request',
    '  option splice-response',
    '',
    'frontend sftp',
    `  bind ${o.listen}`,
    '  default_backend jailsftpd',
    '',
    'backend jailsftpd',
    '  balance roundrobin',
    '  option tcp-check',
    '  tcp-check expect rstring ^SSH-2.0-',
    `  default-server send-proxy-v2 check inter ${inter}ms fall 2 rise 1`,
    ...o.backends.map((b, i) => `  server node${i + 1} ${b}`),
    '',
  ].join('\n');
}

/** Starts HAProxy in front of the backends; the fixture stops it. */
export async function startHaproxy(fx: CleanupScope, o: HaproxyOptions): Promise<TestHaproxy> {
  const dir = fx.tempDir('jailsftp-haproxy-');
  const port = await freePort();
  const sock = join(dir, 'admin.sock');
  const configFile = join(dir, 'haproxy.cfg');
  writeFileSync(
    configFile,
    haproxyConfig({
      listen: `127.0.0.1:${port}`,
      backends: o.backends.map((p) => `127.0.0.1:${p}`),
      statsSocket: sock,
      checkInterMs: o.checkInterMs,
    }),
  );
  const check = await run('haproxy', ['-c', '-q', '-f', configFile]);
  if (check.status !== 0) throw new Error(`haproxy -c refused the config: ${check.stderr}`);
  let out = '';
  const proc = spawnChild('haproxy', ['-db', '-f', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (d: Buffer): void => {
    out += d.toString();
    if (out.length > 1_000_000) out = out.slice(-500_000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  fx.defer(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited(proc);
  });

  const stats = async (): Promise<Map<string, BackendStat>> => {
    const csv = await new Promise<string>((res, rej) => {
      let text = '';
      const s = connect(sock, () => s.end('show stat\n'));
      s.on('data', (d: Buffer) => (text += d.toString()));
      s.on('end', () => res(text));
      s.on('error', rej);
    });
    const lines = csv.split('\n');
    const head = (lines[0] ?? '').replace(/^# /, '').split(',');
    const col = (name: string): number => head.indexOf(name);
    const m = new Map<string, BackendStat>();
    for (const l of lines.slice(1)) {
      const f = l.split(',');
      if (f[col('pxname')] !== 'jailsftpd' || !/^node\d+$/.test(f[col('svname')] ?? '')) continue;
      m.set(f[col('svname')]!, {
        status: f[col('status')] ?? '',
        sessions: Number(f[col('stot')] ?? 0),
        check: f[col('check_status')] ?? '',
      });
    }
    return m;
  };

  const ready = async (timeoutMs = 15000): Promise<void> => {
    const end = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`haproxy exited ${proc.exitCode}:\n${out}`);
      try {
        const s = await stats();
        last = JSON.stringify([...s]);
        // UP after a check that saw the SSH banner (L7OK), not the initial state before any check
        const up = [...s.values()].filter((v) => v.status === 'UP' && v.check === 'L7OK');
        if (s.size === o.backends.length && up.length === s.size) return;
      } catch (e) {
        last = (e as Error).message; // the stats socket is not there yet
      }
      if (Date.now() > end) throw new Error(`haproxy backends not up: ${last}\n${out}`);
      await sleep(100);
    }
  };

  await ready();
  return { host: '127.0.0.1', port, configFile, pid: proc.pid!, output: () => out, stats, ready };
}

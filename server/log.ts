// The server's own log: one line per event on stdout, `time event key=value…` for people, or one
// JSON object per line (`--log-format json`) for log collectors. Debug events (errors on single
// sockets and channels, which a client causes by going away) only with JAILSFTPD_LOG=debug.
export type LogFormat = 'text' | 'json';

let format: LogFormat = 'text';

export function setLogFormat(f: LogFormat): void {
  format = f;
}

function text(v: unknown): string {
  const s = String(v);
  return typeof v === 'string' && (/[\s"=]/.test(s) || s === '') ? JSON.stringify(s) : s;
}

export function log(event: string, fields: Record<string, unknown> = {}): void {
  const time = new Date().toISOString();
  if (format === 'json') {
    process.stdout.write(JSON.stringify({ time, event, ...fields }) + '\n');
    return;
  }
  const kv = Object.entries(fields)
    .map(([k, v]) => `${k}=${text(v)}`)
    .join(' ');
  process.stdout.write(`${time} ${event}${kv ? ' ' + kv : ''}\n`);
}

const DEBUG = process.env.JAILSFTPD_LOG === 'debug';

/** A debug line (one per event), written only when JAILSFTPD_LOG=debug. */
export function debug(event: string, fields: Record<string, unknown> = {}): void {
  if (DEBUG) log(event, fields);
}

// One line per event on stdout: time, event, then key=value pairs. Debug events (errors on single
// sockets and channels, which a client causes by going away) only with JAILSFTPD_LOG=debug.
export function log(event: string, fields: Record<string, unknown> = {}): void {
  const kv = Object.entries(fields)
    .map(
      ([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : String(v)}`,
    )
    .join(' ');
  process.stdout.write(`${new Date().toISOString()} ${event}${kv ? ' ' + kv : ''}\n`);
}

const DEBUG = process.env.JAILSFTPD_LOG === 'debug';

/** A debug line (one per event), written only when JAILSFTPD_LOG=debug. */
export function debug(event: string, fields: Record<string, unknown> = {}): void {
  if (DEBUG) log(event, fields);
}

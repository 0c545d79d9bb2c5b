// One line per event on stdout: time, event, then key=value pairs.
export function log(event: string, fields: Record<string, unknown> = {}): void {
  const kv = Object.entries(fields)
    .map(
      ([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : String(v)}`,
    )
    .join(' ');
  process.stdout.write(`${new Date().toISOString()} ${event}${kv ? ' ' + kv : ''}\n`);
}

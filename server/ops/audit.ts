// The audit log: one JSON object per line for every login, logout, transfer and change a user makes
// (`--audit-log FILE`, `-` for standard output). Writing never blocks a transfer: lines queue in a
// bounded buffer that drains in the background; what does not fit is dropped and counted.
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { AuditEvent } from '../account/events.js';
import { log } from '../log.js';

/** A batch of lines is written when it holds this many bytes, or FLUSH_MS after its first line. */
const FLUSH_BYTES = 64 * 1024;
const FLUSH_MS = 50;

/** Bytes that may wait for the disk before new lines are dropped. */
export const AUDIT_BUFFER_BYTES = 8 * 1024 * 1024;

export class AuditLog {
  private out: Writable;
  private dropped = 0;
  private pending: string[] = [];
  private pendingBytes = 0;
  private flushTimer?: NodeJS.Timeout;
  private reported = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly target: string,
    /** called for every line dropped because the buffer was full */
    private readonly onDrop: () => void = () => undefined,
    private readonly bufferBytes = AUDIT_BUFFER_BYTES,
  ) {
    this.out = this.open();
    // a count of what was dropped under pressure, at most once every 10 s
    this.timer = setInterval(() => this.reportDropped(), 10_000).unref();
  }

  write(e: AuditEvent): void {
    if (this.out.writableLength + this.pendingBytes > this.bufferBytes) {
      this.dropped++;
      this.onDrop();
      return;
    }
    const line = JSON.stringify({ time: new Date().toISOString(), ...e }) + '\n';
    this.pending.push(line);
    this.pendingBytes += line.length;
    // lines leave in batches: one write system call per batch, not one per event (small files)
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.length === 0) return;
    this.out.write(this.pending.join(''));
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** After logrotate moved the file (SIGHUP): later lines go to a new file at the same path. */
  reopen(): void {
    if (this.target === '-') return;
    this.flush();
    const old = this.out;
    this.out = this.open();
    old.end();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.flush();
    this.reportDropped();
    if (this.target === '-') return;
    await new Promise<void>((resolve) => this.out.end(resolve));
  }

  private open(): Writable {
    if (this.target === '-') return process.stdout;
    const s: WriteStream = createWriteStream(this.target, { flags: 'a', mode: 0o640 });
    s.on('error', (err) => log('audit.error', { file: this.target, error: err.message }));
    return s;
  }

  private reportDropped(): void {
    if (this.dropped === this.reported) return;
    log('audit.dropped', { lines: this.dropped - this.reported, total: this.dropped });
    this.reported = this.dropped;
  }
}

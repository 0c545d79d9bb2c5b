// Prometheus metrics (prom-client): counters the server moves as it works, gauges read when scraped.
// No per-user labels unless `metrics.perUser` is set: every user would be a new series.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type Direction = 'upload' | 'download';

/** What the gauges read at scrape time. */
export interface LiveCounts {
  connections(): number;
  sessions(): number;
  handles(): number;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly logins: Counter<'method' | 'result'>;
  private readonly bytes: Counter<'direction'>;
  private readonly userBytes?: Counter<'direction' | 'user'>;
  private readonly requests: Counter<'op' | 'status'>;
  private readonly duration: Histogram<'op'>;
  private readonly quotaRefusals: Counter;
  readonly auditDropped: Counter;

  constructor(live: LiveCounts, perUser = false) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    };
    gauge('jailsftp_connections_active', 'Open SSH connections.', () => live.connections());
    gauge('jailsftp_sessions_active', 'Open SFTP sessions.', () => live.sessions());
    gauge('jailsftp_handles_open', 'Open file and directory handles.', () => live.handles());
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
      new Counter<L>({ name, help, labelNames, registers });
    this.logins = counter(
      'jailsftp_logins_total',
      'Login attempts by method and result (success or failure).',
      ['method', 'result'],
    );
    this.bytes = counter(
      'jailsftp_transfer_bytes_total',
      'File bytes written by uploads and read by downloads.',
      ['direction'],
    );
    if (perUser)
      this.userBytes = counter(
        'jailsftp_user_transfer_bytes_total',
        'File bytes by user and direction (metrics.perUser).',
        ['direction', 'user'],
      );
    this.requests = counter('jailsftp_requests_total', 'SFTP requests by operation and status.', [
      'op',
      'status',
    ]);
    this.duration = new Histogram({
      name: 'jailsftp_request_duration_seconds',
      help: 'Time from a request to its reply, by operation.',
      labelNames: ['op'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.quotaRefusals = counter(
      'jailsftp_quota_refusals_total',
      'Writes refused because they would exceed a quota.',
    );
    this.auditDropped = counter(
      'jailsftp_audit_dropped_total',
      'Audit lines dropped because the log could not keep up.',
    );
  }

  login(method: string, ok: boolean): void {
    this.logins.inc({ method, result: ok ? 'success' : 'failure' });
  }

  transferred(direction: Direction, bytes: number, user: string): void {
    if (bytes <= 0) return;
    this.child(this.bytes, direction, () => this.bytes.labels(direction)).inc(bytes);
    this.userBytes?.inc({ direction, user }, bytes);
  }

  request(op: string, status: string, seconds: number): void {
    this.child(this.requests, `${op}\0${status}`, () => this.requests.labels(op, status)).inc();
    this.child(this.duration, op, () => this.duration.labels(op)).observe(seconds);
  }

  // Every READ and WRITE lands here: the labelled series are looked up once and kept, instead of
  // prom-client hashing the label object at each call.
  private readonly children = new Map<object, Map<string, unknown>>();

  private child<T>(metric: object, key: string, make: () => T): T {
    let m = this.children.get(metric);
    if (!m) this.children.set(metric, (m = new Map()));
    let c = m.get(key) as T | undefined;
    if (c === undefined) m.set(key, (c = make()));
    return c;
  }

  quotaRefused(): void {
    this.quotaRefusals.inc();
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

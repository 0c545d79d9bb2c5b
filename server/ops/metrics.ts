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
    this.logins = new Counter({
      name: 'jailsftp_logins_total',
      help: 'Login attempts by method and result (success or failure).',
      labelNames: ['method', 'result'],
      registers,
    });
    this.bytes = new Counter({
      name: 'jailsftp_transfer_bytes_total',
      help: 'File bytes written by uploads and read by downloads.',
      labelNames: ['direction'],
      registers,
    });
    if (perUser)
      this.userBytes = new Counter({
        name: 'jailsftp_user_transfer_bytes_total',
        help: 'File bytes by user and direction (metrics.perUser).',
        labelNames: ['direction', 'user'],
        registers,
      });
    this.requests = new Counter({
      name: 'jailsftp_requests_total',
      help: 'SFTP requests by operation and status.',
      labelNames: ['op', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'jailsftp_request_duration_seconds',
      help: 'Time from a request to its reply, by operation.',
      labelNames: ['op'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.quotaRefusals = new Counter({
      name: 'jailsftp_quota_refusals_total',
      help: 'Writes refused because they would exceed a quota.',
      registers,
    });
    this.auditDropped = new Counter({
      name: 'jailsftp_audit_dropped_total',
      help: 'Audit lines dropped because the log could not keep up.',
      registers,
    });
  }

  login(method: string, ok: boolean): void {
    this.logins.inc({ method, result: ok ? 'success' : 'failure' });
  }

  transferred(direction: Direction, bytes: number, user: string): void {
    if (bytes <= 0) return;
    this.bytes.inc({ direction }, bytes);
    this.userBytes?.inc({ direction, user }, bytes);
  }

  request(op: string, status: string, seconds: number): void {
    this.requests.inc({ op, status });
    this.duration.observe({ op }, seconds);
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

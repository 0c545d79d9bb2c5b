// The operations side of a running server: the audit log, the metrics and the admin listener, fed by
// the account layer (what users do), the SSH layer (logins, connections) and the engine (requests).
// Reload applies a new config's audit log, metrics and hooks settings here. Completed uploads,
// removes and renames also go to the hooks (hooks.ts), which run them in the background.
import type {
  AccountObserver,
  Attempt,
  AuditEvent,
  Direction,
  EventPlace,
} from '../account/events.js';
import { parseListen, type Config } from '../config.js';
import { log } from '../log.js';
import { AdminListener, type SessionInfo } from './admin.js';
import { AuditLog } from './audit.js';
import { Hooks } from './hooks.js';
import { Metrics } from './metrics.js';

/** What the operations layer reads from the server it watches. */
export interface Watched {
  connections(): number;
  sessions(): number;
  sessionList(): SessionInfo[];
  kick(user: string): number;
  /** null while logins are accepted, else why not */
  notReady(): string | null;
}

export class Operations implements AccountObserver {
  readonly metrics: Metrics;
  private audit?: AuditLog;
  private admin?: AdminListener;
  readonly hooks: Hooks;
  private openHandles = 0;
  /** metrics are kept only where someone can read them: with an admin listener */
  private readonly counting: boolean;

  constructor(
    private cfg: Config,
    private readonly server: Watched,
  ) {
    this.metrics = new Metrics(
      {
        connections: () => server.connections(),
        sessions: () => server.sessions(),
        handles: () => this.openHandles,
      },
      cfg.metrics.perUser,
    );
    this.counting = cfg.adminListen !== '';
    if (cfg.auditLog) this.audit = this.openAudit(cfg.auditLog);
    this.hooks = new Hooks(cfg.hooks);
  }

  /** Whether the engine should report each request (metrics on). */
  get countsRequests(): boolean {
    return this.counting;
  }

  private openAudit(target: string): AuditLog {
    return new AuditLog(target, () => this.metrics.auditDropped.inc());
  }

  /** Starts the admin listener when one is configured; its address for the log. */
  async start(): Promise<string | undefined> {
    if (!this.cfg.adminListen) return undefined;
    const { host, port } = parseListen(this.cfg.adminListen);
    this.admin = new AdminListener({
      notReady: () => this.server.notReady(),
      sessions: () => this.server.sessionList(),
      kick: (user) => this.server.kick(user),
      metrics: this.metrics,
    });
    const a = await this.admin.listen(host, port);
    return `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  async stop(): Promise<void> {
    this.hooks.stop();
    await this.admin?.close();
    await this.audit?.close();
  }

  /** SIGHUP: the audit log file is opened anew (after logrotate), or switched to a new one. */
  reload(next: Config): void {
    if (next.auditLog !== this.cfg.auditLog) {
      void this.audit?.close();
      this.audit = next.auditLog ? this.openAudit(next.auditLog) : undefined;
    } else this.audit?.reopen();
    this.hooks.configure(next.hooks);
    if (next.metrics.perUser !== this.cfg.metrics.perUser)
      log('reload.needs_restart', { key: 'metrics.perUser' });
    if (next.adminListen !== this.cfg.adminListen)
      log('reload.needs_restart', { key: 'adminListen' });
    this.cfg = { ...next, adminListen: this.cfg.adminListen, metrics: this.cfg.metrics };
  }

  // AccountObserver: what users do, from the account layer
  event(e: AuditEvent, at?: EventPlace): void {
    this.audit?.write(e);
    this.hooks.event(e, at);
  }

  transferred(direction: Direction, bytes: number, user: string): void {
    if (this.counting) this.metrics.transferred(direction, bytes, user);
  }

  handles(delta: number): void {
    this.openHandles += delta;
  }

  quotaRefused(): void {
    if (this.counting) this.metrics.quotaRefused();
  }

  /** The one place that decides it, from this node's config (as reloaded): see AccountObserver. */
  readsUploadDigests(): boolean {
    return this.audit !== undefined || this.hooks.onUpload;
  }

  /** A login attempt, from the SSH layer: counted, and audited with its method and outcome. */
  login(e: Attempt) {
    if (this.counting) this.metrics.login(e.method, e.ok);
    this.event({
      event: 'login',
      user: e.user,
      addr: e.addr,
      session: e.session,
      method: e.method,
      status: e.ok ? 'ok' : e.status,
    });
  }

  /** One answered SFTP request, from the engine. */
  request(op: string, status: string, seconds: number): void {
    this.metrics.request(op, status, seconds);
  }
}

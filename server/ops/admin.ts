// The admin HTTP listener (`--admin-listen HOST:PORT`): /healthz for balancers, /metrics for
// Prometheus, /sessions for people. It has no authentication: bind it to loopback or a private
// network only.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.js';
import { log } from '../log.js';

export interface SessionInfo {
  id: string;
  user: string;
  addr: string;
  since: string;
  bytesUp: number;
  bytesDown: number;
  handles: number;
}

/** What the listener reports on and acts on. */
export interface AdminSource {
  /** null while logins are accepted, else why not (draining, store unreachable) */
  notReady(): string | null;
  sessions(): SessionInfo[];
  /** closes every session of a user; how many were closed */
  kick(user: string): number;
  readonly metrics: Metrics;
}

export class AdminListener {
  private readonly server: Server;

  constructor(private readonly source: AdminSource) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        log('admin.error', { url: req.url, error: (e as Error).message });
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /healthz': {
        const why = this.source.notReady();
        res.writeHead(why ? 503 : 200, { 'content-type': 'text/plain' });
        res.end(why ? `unavailable: ${why}\n` : 'ok\n');
        return;
      }
      case 'GET /metrics': {
        const body = await this.source.metrics.text();
        res.writeHead(200, { 'content-type': this.source.metrics.contentType });
        res.end(body);
        return;
      }
      case 'GET /sessions':
        return json(res, 200, this.source.sessions());
      case 'POST /kick': {
        const user = url.searchParams.get('user');
        if (!user) return json(res, 400, { error: 'user= is required' });
        return json(res, 200, { user, closed: this.source.kick(user) });
      }
      default:
        return json(res, 404, { error: `no route ${route}` });
    }
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body) + '\n');
}

// The SSH layer: our own TCP listener (limits, no-delay, login timeout, idle timeout) feeding an
// ssh2 Server (host keys, algorithms, authentication), then sessions.
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import ssh2, { type Connection } from 'ssh2';
import type { Config } from '../config.js';
import { Jail } from '../fs/jail.js';
import { closeLedger, openLedger, type Ledger } from '../fs/quota.js';
import { UserFs } from '../fs/userfs.js';
import { log } from '../log.js';
import { PasswordChecker } from '../users/password.js';
import { UserStore, type UserRecord } from '../users/store.js';
import { Authenticator, type AuthState } from './auth.js';
import { LoginDefence } from './defence.js';
import { ensureHostKeys } from './hostkeys.js';
import { serveSession } from './session.js';

// Modern algorithms only; the legacy set is opt-in (config legacyAlgorithms).
const ALGORITHMS = {
  kex: [
    'curve25519-sha256',
    'curve25519-sha256@libssh.org',
    'ecdh-sha2-nistp256',
    'ecdh-sha2-nistp384',
    'ecdh-sha2-nistp521',
    'diffie-hellman-group-exchange-sha256',
    'diffie-hellman-group16-sha512',
    'diffie-hellman-group18-sha512',
    'diffie-hellman-group14-sha256',
  ],
  cipher: [
    'chacha20-poly1305@openssh.com',
    'aes128-gcm@openssh.com',
    'aes256-gcm@openssh.com',
    'aes128-ctr',
    'aes192-ctr',
    'aes256-ctr',
  ],
  hmac: [
    'hmac-sha2-256-etm@openssh.com',
    'hmac-sha2-512-etm@openssh.com',
    'hmac-sha2-256',
    'hmac-sha2-512',
  ],
  serverHostKey: ['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256'],
  compress: ['none'],
};
const LEGACY = {
  kex: ['diffie-hellman-group14-sha1'],
  cipher: ['aes128-cbc', 'aes256-cbc'],
  hmac: ['hmac-sha1'],
  serverHostKey: ['ssh-rsa'],
};

interface Conn {
  socket: Socket;
  addr: string;
  started: number;
  spoke: boolean;
  authed: boolean;
  lastActivity: number;
  client?: Connection;
  auth: AuthState;
  /** the quota ledger this connection holds */
  ledger?: { user: string; home: string; ledger: Ledger };
  fs?: UserFs;
  sessions: number;
  /** run when the socket closes */
  closers: Array<() => void>;
  /** the socket has closed */
  gone: boolean;
}

export class JailServer {
  private readonly tcp: NetServer;
  private readonly ssh: ssh2.Server;
  private readonly conns = new Set<Conn>();
  private readonly byPeer = new Map<string, Conn>();
  private readonly perAddr = new Map<string, number>();
  private readonly userSessions = new Map<string, number>();
  /** sessions whose handles are not all closed yet, on every connection */
  private liveSessions = 0;
  private readonly store: UserStore;
  private readonly auth: Authenticator;
  private readonly sweeper: NodeJS.Timeout;
  readonly hostKeyLines: string[];
  readonly createdKeys: string[];

  constructor(private readonly cfg: Config) {
    this.store = new UserStore(cfg.users, cfg.homes);
    const { keys, created } = ensureHostKeys(cfg.hostKeys);
    this.hostKeyLines = keys.map((k) => k.fingerprintLine);
    this.createdKeys = created;
    const algos = cfg.legacyAlgorithms
      ? {
          kex: [...ALGORITHMS.kex, ...LEGACY.kex],
          cipher: [...ALGORITHMS.cipher, ...LEGACY.cipher],
          hmac: [...ALGORITHMS.hmac, ...LEGACY.hmac],
          serverHostKey: [...ALGORITHMS.serverHostKey, ...LEGACY.serverHostKey],
          compress: ALGORITHMS.compress,
        }
      : ALGORITHMS;
    this.ssh = new ssh2.Server({
      hostKeys: keys.map((k) => k.privateKey),
      algorithms: algos as ssh2.Algorithms,
      ident: 'jailsftpd',
      keepaliveInterval: 30000,
      keepaliveCountMax: 3,
    });
    this.ssh.on('connection', (client: Connection, info: { ip: string; port: number }) =>
      this.onClient(client, `${info.ip}:${info.port}`),
    );
    this.auth = new Authenticator(
      this.store,
      new PasswordChecker(cfg.argon2),
      new LoginDefence(),
      cfg.limits.maxAuthAttempts,
      cfg.legacyAlgorithms,
    );
    this.tcp = createServer({ noDelay: true, pauseOnConnect: false }, (s) => this.onSocket(s));
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
  }

  listen(): Promise<{ host: string; port: number }> {
    return new Promise((res, rej) => {
      this.tcp.once('error', rej);
      this.tcp.listen(this.cfg.port, this.cfg.host, () => {
        const a = this.tcp.address();
        res({ host: this.cfg.host, port: typeof a === 'object' && a ? a.port : this.cfg.port });
      });
    });
  }

  private refuse(socket: Socket, why: string): void {
    log('connection.refused', { addr: socket.remoteAddress, reason: why });
    // text before the SSH version line: most clients show it only in debug output, then "closed"
    socket.end(`jailsftpd: ${why}\r\n`);
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  private onSocket(socket: Socket): void {
    const addr = socket.remoteAddress ?? '?';
    const L = this.cfg.limits;
    socket.on('error', () => undefined);
    if (this.conns.size >= L.maxConnections)
      return this.refuse(socket, 'too many connections, try again later');
    if ((this.perAddr.get(addr) ?? 0) >= L.maxConnectionsPerAddress) {
      return this.refuse(socket, 'too many connections from your address');
    }
    const pending = [...this.conns].filter((c) => !c.authed);
    if (pending.length >= L.maxUnauthenticated) {
      // make room by dropping the oldest connection that never spoke, else the oldest stuck one
      const victim = pending.find((c) => !c.spoke) ?? (pending.length > 0 ? pending[0] : undefined);
      if (!victim) return this.refuse(socket, 'too many connections, try again later');
      victim.socket.destroy();
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    const now = Date.now();
    const conn: Conn = {
      socket,
      addr,
      started: now,
      spoke: false,
      authed: false,
      lastActivity: now,
      auth: { addr, failures: 0 },
      sessions: 0,
      closers: [],
      gone: false,
    };
    this.conns.add(conn);
    this.perAddr.set(addr, (this.perAddr.get(addr) ?? 0) + 1);
    const peer = `${addr}:${socket.remotePort}`;
    this.byPeer.set(peer, conn);
    socket.once('close', () => this.onClose(conn, peer));
    this.ssh.injectSocket(socket);
    socket.once('data', () => (conn.spoke = true));
  }

  private onClose(conn: Conn, peer: string): void {
    for (const fn of conn.closers) fn();
    this.conns.delete(conn);
    this.byPeer.delete(peer);
    const n = (this.perAddr.get(conn.addr) ?? 1) - 1;
    if (n <= 0) this.perAddr.delete(conn.addr);
    else this.perAddr.set(conn.addr, n);
    conn.gone = true;
    this.release(conn);
  }

  /**
   * Gives the quota ledger back once the socket is gone and every session has closed its files:
   * a new login must not rescan the home while writes of this connection are still landing.
   */
  private release(conn: Conn): void {
    if (!conn.gone || conn.sessions > 0 || !conn.ledger) return;
    closeLedger(conn.ledger.user, conn.ledger.home, conn.ledger.ledger);
    conn.ledger = undefined;
  }

  private onClient(client: Connection, peer: string): void {
    const conn = this.byPeer.get(peer);
    client.on('error', (e: Error) =>
      log('connection.error', { addr: conn?.addr, error: e.message }),
    );
    if (!conn) return void client.end();
    conn.client = client;
    client.on('authentication', (ctx) => {
      void this.auth
        .handle(
          ctx,
          conn.auth,
          (user, home) => this.admit(conn, user, home),
          () => client.end(),
        )
        .catch((e: unknown) => {
          log('auth.error', { error: (e as Error).message });
          ctx.reject();
        });
    });
    client.on('ready', () => this.onReady(conn, client));
  }

  /** Prepares the user's storage before the login is accepted: the jail and the quota ledger. */
  private async admit(conn: Conn, user: UserRecord, home: string): Promise<void> {
    const jail = new Jail(home);
    const ledger = await openLedger(user.name, home, user.quota);
    if (conn.socket.destroyed) return closeLedger(user.name, home, ledger);
    if (conn.ledger) closeLedger(conn.ledger.user, conn.ledger.home, conn.ledger.ledger);
    conn.ledger = { user: user.name, home, ledger };
    conn.fs = new UserFs(jail, ledger, { allowSymlinks: this.cfg.allowSymlinks });
  }

  private onReady(conn: Conn, client: Connection): void {
    const user = conn.auth.user!;
    const fs = conn.fs!;
    conn.authed = true;
    conn.lastActivity = Date.now();
    client.on('session', (accept) => {
      serveSession(accept(), {
        user: user.name,
        fs: () => fs,
        maxHandles: this.cfg.limits.maxHandles,
        openSession: () => {
          const n = this.userSessions.get(user.name) ?? 0;
          if (n >= this.cfg.limits.maxSessionsPerUser) {
            return `too many sessions for user ${user.name} (limit ${this.cfg.limits.maxSessionsPerUser})`;
          }
          this.userSessions.set(user.name, n + 1);
          conn.sessions++;
          this.liveSessions++;
          return undefined;
        },
        closeSession: () => {
          this.userSessions.set(user.name, (this.userSessions.get(user.name) ?? 1) - 1);
          conn.sessions--;
          this.liveSessions--;
          this.release(conn);
        },
        activity: () => (conn.lastActivity = Date.now()),
        onClose: (fn) => conn.closers.push(fn),
      });
    });
  }

  /** Login and idle timeouts. */
  private sweep(): void {
    const now = Date.now();
    const L = this.cfg.limits;
    for (const c of this.conns) {
      if (!c.authed && now - c.started > L.loginTimeout * 1000) {
        log('connection.login_timeout', { addr: c.addr });
        c.socket.destroy();
      } else if (c.authed && L.idleTimeout > 0 && now - c.lastActivity > L.idleTimeout * 1000) {
        log('connection.idle_timeout', { addr: c.addr, user: c.auth.user?.name });
        c.client?.end();
        setTimeout(() => c.socket.destroy(), 2000).unref();
      }
    }
  }

  /** Stops accepting; waits up to `grace` seconds for connections to finish, then closes them. */
  async shutdown(grace: number): Promise<void> {
    this.tcp.close();
    const deadline = Date.now() + grace * 1000;
    // idle and unauthenticated connections go at once; transfers get the grace period
    for (const c of this.conns) if (!c.authed || c.sessions === 0) c.socket.destroy();
    while (this.conns.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      for (const c of this.conns) if (c.sessions === 0) c.socket.destroy();
    }
    for (const c of this.conns) c.client?.end();
    await new Promise((r) => setTimeout(r, 200));
    for (const c of this.conns) c.socket.destroy();
    // let every session finish its writes in flight and close its files before the process exits
    const flushBy = Date.now() + 5000;
    while (this.liveSessions > 0 && Date.now() < flushBy)
      await new Promise((r) => setTimeout(r, 20));
    clearInterval(this.sweeper);
  }
}

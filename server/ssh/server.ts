// The SSH layer: our own TCP listener (the PROXY header from a load balancer, limits, no-delay,
// login timeout, idle timeout) feeding an ssh2 Server (host keys, algorithms, authentication),
// then sessions. Users, ledgers and session
// counts belong to the account layer (server/account); a connection holds one Login.
//
// Failures: every event handler of a socket or a connection runs guarded (a bug ends that
// connection only, with a log line); errors on sockets and connections are logged at debug level.
import { randomBytes } from 'node:crypto';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import ssh2, { type Connection } from 'ssh2';
import { SERVER_CHANNEL } from '../../common/ssh-channel.js';
import { Accounts, type Login } from '../account/accounts.js';
import { AddressRules, CidrSet } from '../account/address-rules.js';
import { FileStore, type Store, type UserRecord } from '../account/store.js';
import type { Config } from '../config.js';
import { debug, log } from '../log.js';
import { PasswordChecker } from '../users/password.js';
import { Authenticator, type AuthState } from './auth.js';
import { ensureHostKeys } from './hostkeys.js';
import { readProxyHeader, refuseProxyHeader } from './proxy-header.js';
import { serveSession } from './session.js';
import { Operations, type Watched } from '../ops/ops.js';
import type { SessionInfo } from '../ops/admin.js';

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

/** A PROXY header may carry TLVs after the addresses; HAProxy's are far below this. */
const PROXY_HEADER_MAX = 4096;
/** seconds a balancer has to send the header (it sends it at once; loginTimeout, if shorter) */
const PROXY_HEADER_TIMEOUT = 5;

interface Conn {
  socket: Socket;
  /** the client's address: the socket's peer, or the one a balancer's PROXY header names */
  addr: string;
  /** the connection's id in logs and the audit log */
  id: string;
  /** the idle timeout has closed it (logged once) */
  idleClosed?: boolean;
  started: number;
  spoke: boolean;
  authed: boolean;
  lastActivity: number;
  client?: Connection;
  auth: AuthState;
  /** the account's login: storage, ledger hold and sessions of this connection */
  login?: Login;
}

export class JailServer implements Watched {
  private readonly tcp: NetServer;
  private readonly ssh: ssh2.Server;
  private readonly conns = new Set<Conn>();
  private readonly byPeer = new Map<string, Conn>();
  private readonly perAddr = new Map<string, number>();
  readonly accounts: Accounts;
  private readonly auth: Authenticator;
  private readonly sweeper: NodeJS.Timeout;
  readonly hostKeyLines: string[];
  readonly createdKeys: string[];
  readonly ops: Operations;
  private draining = false;
  private sweeps = 0;
  private readonly unwatch: () => void;
  /** the config's allowFrom/denyFrom, checked when a connection arrives (after its PROXY header) */
  private addressRules: AddressRules;
  /** the config's proxyProtocol: balancers whose connections begin with a PROXY header */
  private balancers: CidrSet;
  /** balancers' connections still waiting for their PROXY header */
  private readonly awaitingHeader = new Set<Socket>();

  constructor(
    private cfg: Config,
    private readonly store: Store = new FileStore(cfg.users, cfg.homes),
  ) {
    this.ops = new Operations(cfg, this);
    this.addressRules = new AddressRules(cfg, 'global ');
    this.balancers = new CidrSet(cfg.proxyProtocol);
    this.accounts = new Accounts(
      store,
      {
        maxSessionsPerUser: cfg.limits.maxSessionsPerUser,
        allowSymlinks: cfg.allowSymlinks,
        rates: cfg.rates,
        uploadDigests: cfg.uploadDigests,
      },
      this.ops,
    );
    // a changed record reaches the sessions already open (quota; disabled, expired, deleted)
    this.unwatch = store.watch((user) => void this.accounts.recordChanged(user));
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
      // larger channel packets (one SFTP WRITE of 255 KiB arrives as one SSH packet), IGNOREs to ACK
      ...SERVER_CHANNEL,
    } as ssh2.ServerConfig);
    this.ssh.on('connection', (client: Connection, info: { ip: string; port: number }) =>
      guarded('client', () => this.onClient(client, `${info.ip}:${info.port}`), client),
    );
    this.auth = new Authenticator(
      this.accounts,
      new PasswordChecker(cfg.argon2),
      cfg.limits.maxAuthAttempts,
      cfg.legacyAlgorithms,
      (a) => this.ops.login(a),
    );
    this.tcp = createServer({ noDelay: true, pauseOnConnect: false }, (s) =>
      guarded('socket', () => this.onSocket(s), s),
    );
    this.sweeper = setInterval(() => guarded('sweep', () => this.sweep()), 1000);
    this.sweeper.unref();
  }

  async listen(): Promise<{ host: string; port: number; admin?: string }> {
    const ssh = await new Promise<{ host: string; port: number }>((res, rej) => {
      this.tcp.once('error', rej);
      this.tcp.listen(this.cfg.port, this.cfg.host, () => {
        const a = this.tcp.address();
        res({ host: this.cfg.host, port: typeof a === 'object' && a ? a.port : this.cfg.port });
      });
    });
    return { ...ssh, admin: await this.ops.start() };
  }

  /**
   * SIGHUP: applies what can change while running (limits, log format, audit log, allowSymlinks,
   * uploadDigests, argon2 parameters for new hashes); the listen address, host keys and directories
   * need a restart.
   */
  reload(next: Config): void {
    for (const key of ['host', 'port', 'hostKeys', 'users', 'homes', 'store'] as const)
      if (next[key] !== this.cfg[key]) log('reload.needs_restart', { key });
    Object.assign(this.cfg.limits, next.limits);
    Object.assign(this.cfg.argon2, next.argon2);
    this.cfg.allowSymlinks = next.allowSymlinks;
    this.cfg.shutdownGrace = next.shutdownGrace;
    this.cfg.logFormat = next.logFormat;
    this.accounts.configure({
      maxSessionsPerUser: next.limits.maxSessionsPerUser,
      allowSymlinks: next.allowSymlinks,
      rates: next.rates,
      uploadDigests: next.uploadDigests,
    });
    this.cfg.uploadDigests = next.uploadDigests;
    this.ops.reload(next);
    this.cfg.auditLog = next.auditLog;
    // address rules: new connections are judged by the new lists, open ones refused by them end
    this.addressRules = new AddressRules(next, 'global ');
    // balancers: for new connections (open ones keep the address they were admitted with)
    this.balancers = new CidrSet(next.proxyProtocol);
    this.cfg.proxyProtocol = next.proxyProtocol;
    for (const c of this.conns) {
      const refused = this.addressRules.refusal(c.addr);
      if (!refused) continue;
      log('connection.closed', {
        user: c.login?.user,
        addr: c.addr,
        session: c.id,
        reason: refused,
      });
      c.client?.end();
      setTimeout(() => c.socket.destroy(), 1000).unref();
    }
  }

  // Watched: what the operations layer reads (gauges, /sessions, /healthz, kick)
  connections(): number {
    return this.conns.size;
  }

  sessions(): number {
    return this.accounts.liveSessions;
  }

  sessionList(): SessionInfo[] {
    return this.accounts.allLogins().map((l) => ({
      id: l.info.session,
      user: l.user,
      addr: l.info.addr,
      since: l.since.toISOString(),
      bytesUp: l.info.bytesUp,
      bytesDown: l.info.bytesDown,
      handles: l.info.handles,
    }));
  }

  kick(user: string): number {
    return this.accounts.kick(user, 'kicked by an administrator');
  }

  notReady(): string | null {
    return this.draining ? 'draining' : this.store.problem();
  }

  /** Refuses a connection; `detail` is logged instead of `why` (what the client is told). */
  private refuse(socket: Socket, addr: string, why: string, detail = why): void {
    log('connection.refused', { addr, reason: detail });
    this.ops.event({
      event: 'refused',
      addr,
      reason: 'limit',
      status: detail,
    });
    // text before the SSH version line: most clients show it only in debug output, then "closed"
    socket.end(`jailsftpd: ${why}\r\n`);
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /**
   * A new TCP connection. From a balancer (proxyProtocol) it must begin with a PROXY header, read
   * before anything reaches ssh2; the client's address in it is the connection's from then on. A
   * direct client is served at once, and refused if it starts with a PROXY header of its own.
   */
  private onSocket(socket: Socket): void {
    const peer = socket.remoteAddress ?? '?';
    const L = this.cfg.limits;
    socket.on('error', (e: Error) =>
      debug('socket.error', { addr: peer, port: socket.remotePort, error: e.message }),
    );
    if (!this.balancers.has(peer)) {
      refuseProxyHeader(socket, (v) =>
        this.refuse(
          socket,
          peer,
          'a PROXY header is not accepted from your address',
          `PROXY ${v} header from ${peer}, not in proxyProtocol`,
        ),
      );
      return this.accept(socket, peer);
    }
    if (this.conns.size + this.awaitingHeader.size >= L.maxConnections)
      return this.refuse(socket, peer, 'too many connections, try again later');
    this.awaitingHeader.add(socket);
    const timeoutMs = Math.min(PROXY_HEADER_TIMEOUT, L.loginTimeout) * 1000;
    readProxyHeader(socket, { maxBytes: PROXY_HEADER_MAX, timeoutMs }).then(
      (h) => {
        this.awaitingHeader.delete(socket);
        if (socket.destroyed) return;
        // LOCAL / UNKNOWN: the balancer's own health check, served as the balancer
        guarded('proxied', () => this.accept(socket, h.local ? peer : h.addr), socket);
      },
      (e: Error) => {
        this.awaitingHeader.delete(socket);
        this.refuse(
          socket,
          peer,
          'a PROXY header is required',
          `${e.message} from balancer ${peer}`,
        );
      },
    );
  }

  /** Admits a connection from the client address `addr` (limits, address rules) and hands it to ssh2. */
  private accept(socket: Socket, addr: string): void {
    const L = this.cfg.limits;
    const refused = this.addressRules.refusal(addr);
    if (refused)
      return this.refuse(socket, addr, 'connections from your address are not allowed', refused);
    if (this.conns.size >= L.maxConnections)
      return this.refuse(socket, addr, 'too many connections, try again later');
    if ((this.perAddr.get(addr) ?? 0) >= L.maxConnectionsPerAddress) {
      return this.refuse(socket, addr, 'too many connections from your address');
    }
    const pending = [...this.conns].filter((c) => !c.authed);
    if (pending.length >= L.maxUnauthenticated) {
      // make room by dropping the oldest connection that never spoke, else the oldest stuck one
      const victim = pending.find((c) => !c.spoke) ?? (pending.length > 0 ? pending[0] : undefined);
      if (!victim) return this.refuse(socket, addr, 'too many connections, try again later');
      victim.socket.destroy();
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    const now = Date.now();
    const id = randomBytes(6).toString('hex');
    const conn: Conn = {
      socket,
      addr,
      id,
      started: now,
      spoke: false,
      authed: false,
      lastActivity: now,
      auth: { addr, session: id, failures: 0 },
    };
    this.conns.add(conn);
    this.perAddr.set(addr, (this.perAddr.get(addr) ?? 0) + 1);
    // ssh2 names a connection by its socket's peer (the balancer's, when proxied)
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.byPeer.set(peer, conn);
    socket.once('close', () => guarded('close', () => this.onClose(conn, peer)));
    this.ssh.injectSocket(socket);
    socket.once('data', () => (conn.spoke = true));
  }

  private onClose(conn: Conn, peer: string): void {
    this.conns.delete(conn);
    this.byPeer.delete(peer);
    const n = (this.perAddr.get(conn.addr) ?? 1) - 1;
    if (n <= 0) this.perAddr.delete(conn.addr);
    else this.perAddr.set(conn.addr, n);
    // its sessions end, close their files, and the ledger hold goes once they have
    const login = conn.login;
    if (!login) return;
    login.logout();
    if (conn.authed)
      this.ops.event({
        event: 'logout',
        user: login.user,
        addr: conn.addr,
        session: conn.id,
        ms: Date.now() - login.since.getTime(),
        bytes: login.info.bytesUp + login.info.bytesDown,
        status: 'ok',
      });
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
          (user) => this.admit(conn, user),
          () => client.end(),
        )
        .catch((e: unknown) => {
          log('auth.error', { error: (e as Error).message });
          guarded('auth', () => ctx.reject());
        });
    });
    client.on('ready', () => guarded('ready', () => this.onReady(conn, client), client));
  }

  /** The account's login before the login is accepted: home, storage and the quota ledger. */
  private async admit(conn: Conn, user: UserRecord): Promise<void> {
    if (this.draining) throw new Error('server shutting down');
    const login = await this.accounts.login(user, { addr: conn.addr, session: conn.id });
    if (conn.socket.destroyed) return login.logout();
    conn.login?.logout();
    conn.login = login;
    login.disconnect = (reason) => {
      log('connection.closed', { user: login.user, addr: conn.addr, session: conn.id, reason });
      conn.client?.end();
      setTimeout(() => conn.socket.destroy(), 1000).unref();
    };
  }

  private onReady(conn: Conn, client: Connection): void {
    const login = conn.login!;
    conn.authed = true;
    conn.lastActivity = Date.now();
    client.on('session', (accept) => {
      guarded('session', () =>
        serveSession(accept(), {
          login,
          maxHandles: this.cfg.limits.maxHandles,
          activity: () => (conn.lastActivity = Date.now()),
          onRequest: this.ops.countsRequests
            ? (op, status, seconds) => this.ops.request(op, status, seconds)
            : undefined,
          onRefused: (status) =>
            this.ops.event({
              event: 'refused',
              user: login.user,
              addr: conn.addr,
              session: conn.id,
              reason: 'limit',
              status,
            }),
        }),
      );
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
      } else if (
        c.authed &&
        !c.idleClosed &&
        L.idleTimeout > 0 &&
        now - c.lastActivity > L.idleTimeout * 1000
      ) {
        c.idleClosed = true; // logged once; the socket goes within 2 s
        log('connection.idle_timeout', { addr: c.addr, user: c.auth.user?.name });
        c.client?.end();
        setTimeout(() => c.socket.destroy(), 2000).unref();
      }
    }
    this.accounts.kickExpired(now);
    // a change notification can be missed (a network filesystem): look again every 5 s
    if (++this.sweeps % 5 === 0)
      for (const user of new Set(this.accounts.allLogins().map((l) => l.user)))
        void this.accounts.recordChanged(user);
  }

  /** Stops accepting; waits up to `grace` seconds for connections to finish, then closes them. */
  async shutdown(grace: number): Promise<void> {
    this.draining = true; // /healthz answers 503 from now on
    this.tcp.close();
    this.unwatch();
    const deadline = Date.now() + grace * 1000;
    // idle and unauthenticated connections go at once; transfers get the grace period
    const idle = (c: Conn): boolean => (c.login?.sessions ?? 0) === 0;
    for (const c of this.conns) if (!c.authed || idle(c)) c.socket.destroy();
    for (const s of this.awaitingHeader) s.destroy();
    while (this.conns.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      for (const c of this.conns) if (idle(c)) c.socket.destroy();
    }
    for (const c of this.conns) c.client?.end();
    await new Promise((r) => setTimeout(r, 200));
    for (const c of this.conns) c.socket.destroy();
    // let every session finish its writes in flight and close its files before the process exits
    const flushBy = Date.now() + 5000;
    while (this.accounts.liveSessions > 0 && Date.now() < flushBy)
      await new Promise((r) => setTimeout(r, 20));
    clearInterval(this.sweeper);
    await this.ops.stop();
  }
}

/**
 * Runs an event handler of the SSH layer; an exception in it is a bug that ends only the
 * connection (or socket) it belongs to, with a log line, instead of reaching the process.
 */
function guarded(what: string, fn: () => void, end?: { end(): unknown }): void {
  try {
    fn();
  } catch (e) {
    log('bug.connection', { what, error: e instanceof Error ? (e.stack ?? e.message) : e });
    try {
      end?.end();
    } catch {
      /* already gone */
    }
  }
}

// `jailsftpd serve`: opens the store, starts the server, and handles the signals (SIGHUP reload,
// SIGTERM/SIGINT graceful stop, a bug that escaped every boundary: stop and exit 70).
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../config.js';
import { JailServer } from '../ssh/server.js';
import { log, setLogFormat } from '../log.js';
import { setHomesIo } from '../fs/home-io.js';
import { describeStore, openStore } from '../store/open.js';
import { PgStore } from '../store/pg-store.js';
import { COMMON, storeOverride } from './args.js';
import { HELP } from './help.js';

export async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...COMMON,
      listen: { type: 'string' },
      'host-keys': { type: 'string' },
      'log-format': { type: 'string' },
      'audit-log': { type: 'string' },
      'admin-listen': { type: 'string' },
      'proxy-protocol': { type: 'string' },
    },
  });
  if (values.help) return void console.log(HELP.serve);
  const overrides = {
    ...values,
    store: storeOverride(values.store),
    hostKeys: values['host-keys'],
    logFormat: values['log-format'],
    auditLog: values['audit-log'],
    adminListen: values['admin-listen'],
    proxyProtocol: values['proxy-protocol'],
  };
  const cfg: Config = loadConfig(overrides);
  setLogFormat(cfg.logFormat);
  setHomesIo(cfg.homesIo);
  // a PostgreSQL store must answer and have this version's schema, or the node does not start
  const store = await openStore(cfg);
  const server = new JailServer(cfg, store);
  // a node that lost its cluster lease is dead to the others (its grants and session rows were
  // taken back): every session it serves ends, the users connect again (through another node)
  if (store instanceof PgStore)
    store.quota.onLeaseLost = (_users, why) => {
      for (const u of new Set(server.accounts.allLogins().map((l) => l.user)))
        server.accounts.kick(u, why);
    };
  for (const k of server.createdKeys) console.log(`created host key ${k}`);
  for (const l of server.hostKeyLines) console.log(`host key ${l}`);
  const { host, port, admin } = await server.listen();
  log('listening', { store: describeStore(cfg), homes: cfg.homes, homesIo: cfg.homesIo });
  console.log(`jailsftpd listening on ${host}:${port}`);
  if (admin) console.log(`jailsftpd admin listening on ${admin}`);
  // SIGHUP: the config file again (a bad one is refused and the running config kept), and the
  // audit log opened anew (logrotate). A new store needs a restart (reload.needs_restart).
  process.on('SIGHUP', () => {
    try {
      const next = loadConfig(overrides);
      server.reload(next);
      setLogFormat(next.logFormat);
      setHomesIo(next.homesIo); // for the sessions that start from now on
      log('reload', { config: values.config ?? '(none)' });
    } catch (e) {
      log('reload.refused', { error: (e as Error).message });
    }
  });
  let stopping = false;
  const stop = (sig: string, code = 0): void => {
    if (stopping) process.exit(1); // second signal: leave now
    stopping = true;
    log('shutdown', { signal: sig, grace: cfg.shutdownGrace });
    void server
      .shutdown(cfg.shutdownGrace)
      .then(() => store.close?.())
      .catch((e: unknown) => log('shutdown.error', { error: (e as Error).message }))
      .then(() => process.exit(code));
  };
  // A bug in the handling of one request, channel or connection is caught at that boundary and
  // ends only that session or connection (engine.ts, session.ts, ssh/server.ts). An exception
  // that still reaches the process escaped all of them: the state it interrupted (running
  // requests, session counts, a quota ledger) can no longer be trusted, and serving on could let
  // a user pass the quota or lock a user out. So: log it with its stack, stop accepting, let the
  // running transfers finish within the shutdown grace, and exit with status 70 (EX_SOFTWARE) so
  // that the service manager starts a clean process. A watchdog makes sure the process does go.
  const fatal = (event: string, e: unknown): void => {
    log(event, { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    if (stopping) return;
    setTimeout(() => process.exit(70), (cfg.shutdownGrace + 15) * 1000).unref();
    stop(event, 70);
  };
  process.on('uncaughtException', (e) => fatal('bug.uncaught', e));
  process.on('unhandledRejection', (e) => fatal('bug.unhandled_rejection', e));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

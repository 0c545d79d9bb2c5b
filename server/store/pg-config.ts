// How jailsftpd connects to PostgreSQL: which locations select it, the pool's short timeouts (a
// login must fail in seconds, not hang, while the database is away), and the location as logs may
// show it (never the password).
import type pg from 'pg';

/** `postgres://…` or `postgresql://…` */
export function isPgUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** The location with its password replaced by ***, for logs and messages. */
export function maskUrl(location: string): string {
  if (!isPgUrl(location)) return location;
  try {
    const u = new URL(location);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    // unparsable: show the scheme and host part only, never what could be a password
    return location.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/** Connection settings. `admin`: store init/import, which may wait on another node's migration. */
export function pgConfig(location: string, admin = false): pg.PoolConfig {
  return {
    connectionString: location,
    application_name: 'jailsftpd',
    // a connection that cannot be made in 2 s fails: the login is refused rather than kept waiting
    connectionTimeoutMillis: admin ? 10000 : 2000,
    // a statement the server does not finish in 5 s is cancelled by the server; the client gives
    // up a little later in case the server itself is gone
    statement_timeout: admin ? 0 : 5000,
    query_timeout: admin ? undefined : 6000,
    idleTimeoutMillis: 30000,
    keepAlive: true,
    max: admin ? 2 : 10,
  };
}

// Server configuration: defaults, an optional JSON file, then command-line options.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface Argon2Params {
  memoryCost: number; // KiB
  timeCost: number;
  parallelism: number;
}

export interface Limits {
  /** all connections at once */
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** connections still in handshake or authentication; the oldest silent ones go first */
  maxUnauthenticated: number;
  maxSessionsPerUser: number;
  /** seconds without any SFTP traffic before a connection is closed (0 = never) */
  idleTimeout: number;
  /** seconds to finish the handshake and authentication */
  loginTimeout: number;
  maxAuthAttempts: number;
  maxHandles: number;
}

export interface Config {
  host: string;
  port: number;
  users: string;
  homes: string;
  hostKeys: string;
  argon2: Argon2Params;
  limits: Limits;
  /** let users create symbolic links (inside their home) */
  allowSymlinks: boolean;
  /** also offer ssh-rsa (SHA-1) signatures, CBC ciphers and SHA-1 MACs, for very old clients */
  legacyAlgorithms: boolean;
  /** seconds running transfers get to finish after SIGTERM */
  shutdownGrace: number;
}

export const DEFAULTS: Config = {
  host: '0.0.0.0',
  port: 2222,
  users: 'users',
  homes: 'home',
  hostKeys: 'keys',
  // 20-40 ms per verification on the reference machine (see README, Performance)
  argon2: { memoryCost: 19456, timeCost: 3, parallelism: 1 },
  limits: {
    maxConnections: 1024,
    maxConnectionsPerAddress: 64,
    maxUnauthenticated: 64,
    maxSessionsPerUser: 32,
    idleTimeout: 900,
    loginTimeout: 30,
    maxAuthAttempts: 6,
    maxHandles: 1024,
  },
  allowSymlinks: false,
  legacyAlgorithms: false,
  shutdownGrace: 30,
};

export interface ConfigOverrides {
  config?: string;
  listen?: string;
  users?: string;
  homes?: string;
  hostKeys?: string;
}

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  if (!m) throw new Error(`invalid --listen "${text}": use HOST:PORT`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`invalid port ${port}`);
  return { host: m[1] || m[2] || '0.0.0.0', port };
}

export function loadConfig(o: ConfigOverrides): Config {
  const c: Config = structuredClone(DEFAULTS);
  if (o.config) {
    let file: Record<string, unknown>;
    try {
      file = JSON.parse(readFileSync(o.config, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`cannot read config ${o.config}: ${(e as Error).message}`);
    }
    const known = new Set([...Object.keys(DEFAULTS), 'listen']);
    for (const k of Object.keys(file))
      if (!known.has(k)) throw new Error(`unknown config key "${k}" in ${o.config}`);
    if (typeof file.listen === 'string') Object.assign(c, parseListen(file.listen));
    for (const k of ['users', 'homes', 'hostKeys'] as const)
      if (typeof file[k] === 'string') c[k] = file[k];
    for (const k of ['allowSymlinks', 'legacyAlgorithms'] as const)
      if (typeof file[k] === 'boolean') c[k] = file[k];
    if (typeof file.shutdownGrace === 'number') c.shutdownGrace = file.shutdownGrace;
    if (typeof file.argon2 === 'object') Object.assign(c.argon2, file.argon2);
    if (typeof file.limits === 'object') Object.assign(c.limits, file.limits);
  }
  if (o.listen) Object.assign(c, parseListen(o.listen));
  if (o.users) c.users = o.users;
  if (o.homes) c.homes = o.homes;
  if (o.hostKeys) c.hostKeys = o.hostKeys;
  c.users = resolve(c.users);
  c.homes = resolve(c.homes);
  c.hostKeys = resolve(c.hostKeys);
  return c;
}

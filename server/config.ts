// Server configuration: defaults, an optional JSON file, then command-line options.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseCidr, parseCidrList } from './account/address-rules.js';

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
  /** where user records live: '' or `file` (the users directory), or postgres://USER:PASSWORD@HOST:PORT/DB */
  store: string;
  argon2: Argon2Params;
  limits: Limits;
  /** let users create symbolic links (inside their home) */
  allowSymlinks: boolean;
  /**
   * how homes' filesystem calls run: `sync` on the event loop (local disks), `pool` in the thread
   * pool through a gate per home (network filesystems), `auto` by the home's filesystem type
   */
  homesIo: 'auto' | 'sync' | 'pool';
  /**
   * when an upload's SHA-256 is computed while it arrives (for `sha256sum` right after it, the audit
   * log and hooks): `auto` where something reads it (the audit log, upload hooks, a client that
   * asks: see UPLOAD_DIGESTS_ENV), `always` for every upload written in order from offset 0
   */
  uploadDigests: 'auto' | 'always';
  /** also offer ssh-rsa (SHA-1) signatures, CBC ciphers and SHA-1 MACs, for very old clients */
  legacyAlgorithms: boolean;
  /** seconds running transfers get to finish after SIGTERM */
  shutdownGrace: number;
  /** the server's own log lines: `text` (time event key=value) or `json` (one object per line) */
  logFormat: 'text' | 'json';
  /** JSON audit log file, `-` for standard output, empty for none */
  auditLog: string;
  /** HOST:PORT of the admin HTTP listener (healthz, metrics, sessions), empty for none */
  adminListen: string;
  metrics: { perUser: boolean };
  /** default bandwidth per user, bytes per second (0 = unlimited); a user's own rates win */
  rates: { upload: number; download: number };
  hooks: HooksConfig;
  /** address rules (issue 13): CIDRs allowed to connect (empty = everyone), and refused */
  allowFrom: string[];
  denyFrom: string[];
  /**
   * CIDRs of load balancers (HAProxy) whose connections begin with a PROXY v1/v2 header naming the
   * client's address; empty = none. A header from any other address is refused.
   */
  proxyProtocol: string[];
  /** cluster mode (PostgreSQL store): the node's lease (at most 30 s) and the largest quota grant */
  cluster: { leaseSeconds: number; grantBatch: number };
}

/** Commands (argv, no shell) and webhooks run after completed uploads, removes and renames. */
export interface HooksConfig {
  upload: string[];
  uploadUrl: string;
  remove: string[];
  removeUrl: string;
  rename: string[];
  renameUrl: string;
  /** seconds a hook may run before it is killed (or a webhook request is abandoned) */
  timeout: number;
  /** hooks running at once */
  concurrency: number;
  /** hook runs waiting; beyond it new ones are dropped, counted and logged */
  queue: number;
  /** more attempts of a failed webhook, with backoff */
  retries: number;
}

export const DEFAULTS: Config = {
  host: '0.0.0.0',
  port: 2222,
  users: 'users',
  homes: 'home',
  hostKeys: 'keys',
  store: '',
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
  homesIo: 'auto',
  uploadDigests: 'auto',
  legacyAlgorithms: false,
  shutdownGrace: 30,
  logFormat: 'text',
  auditLog: '',
  adminListen: '',
  metrics: { perUser: false },
  hooks: {
    upload: [],
    uploadUrl: '',
    remove: [],
    removeUrl: '',
    rename: [],
    renameUrl: '',
    timeout: 30,
    concurrency: 4,
    queue: 1000,
    retries: 3,
  },
  allowFrom: [],
  denyFrom: [],
  proxyProtocol: [],
  rates: { upload: 0, download: 0 },
  cluster: { leaseSeconds: 10, grantBatch: 64 * 1024 * 1024 },
};

/** String keys that take one of a few values. */
const CHOICES: Readonly<Record<string, readonly string[]>> = {
  logFormat: ['text', 'json'],
  homesIo: ['auto', 'sync', 'pool'],
  uploadDigests: ['auto', 'always'],
};

export interface ConfigOverrides {
  config?: string;
  listen?: string;
  users?: string;
  homes?: string;
  hostKeys?: string;
  /** --store, else $JAILSFTP_STORE (the command line decides); wins over the config file */
  store?: string;
  logFormat?: string;
  auditLog?: string;
  adminListen?: string;
  /** --proxy-protocol: comma-separated CIDRs, `none` for no list */
  proxyProtocol?: string;
}

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  if (!m) throw new Error(`invalid --listen "${text}": use HOST:PORT`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`invalid port ${port}`);
  return { host: m[1] || m[2] || '0.0.0.0', port };
}

/** A config file that is not what the server expects: exit status 2 at start, old config kept at reload. */
export class ConfigError extends Error {}

type Shape = 'string' | 'number' | 'boolean' | 'strings' | { readonly [key: string]: Shape };

/** Store locations: the users directory, or PostgreSQL (server/store/open.ts). */
const STORE = /^(|file|postgres(ql)?:\/\/.+)$/i;

/** A store location with anything that could be a password hidden. */
function maskedStore(v: string): string {
  return v.replace(/\/\/[^@/]*@/, '//***@');
}

/** Arrays of strings that hold CIDRs (address rules, balancers), each checked. */
const CIDR_KEYS: ReadonlySet<string> = new Set(['allowFrom', 'denyFrom', 'proxyProtocol']);

/** The shape of the config file: every key at every depth, with the type it must have. */
const SHAPE: Shape = {
  ...shapeOf(DEFAULTS),
  // keys with no default value: the listen address is split into host and port
  listen: 'string',
};

function shapeOf(value: object): Record<string, Shape> {
  const out: Record<string, Shape> = {};
  for (const [k, v] of Object.entries(value)) {
    if (Array.isArray(v)) out[k] = 'strings';
    else if (typeof v === 'object' && v !== null) out[k] = shapeOf(v as object);
    else out[k] = typeof v as 'string' | 'number' | 'boolean';
  }
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * Checks a parsed config file against SHAPE at every depth and returns it as the typed partial it
 * then is. Unknown keys and wrong types are refused with the key's path ("limits.maxHandels").
 */
export function checkConfigFile(file: unknown, where: string): Record<string, unknown> {
  const walk = (v: unknown, shape: Shape, path: string): void => {
    if (shape === 'strings') {
      const what = CIDR_KEYS.has(path) ? 'CIDR' : 'string';
      if (!Array.isArray(v))
        throw new ConfigError(
          `${where}: "${path}" must be an array of ${what}s, not ${describe(v)}`,
        );
      v.forEach((c: unknown, i) => {
        try {
          if (typeof c !== 'string') throw new Error(`not a ${what}: ${describe(c)}`);
          if (what === 'CIDR') parseCidr(c);
        } catch (e) {
          throw new ConfigError(`${where}: "${path}[${i}]": ${(e as Error).message}`);
        }
      });
      return;
    }
    if (typeof shape === 'string') {
      if (typeof v !== shape)
        throw new ConfigError(`${where}: "${path}" must be a ${shape}, not ${describe(v)}`);
      const choices = CHOICES[path];
      if (path === 'store' && !STORE.test(v as string))
        throw new ConfigError(
          `${where}: "store" must be file or postgres://USER:PASSWORD@HOST:PORT/DB, not ${describe(maskedStore(v as string))}`,
        );
      if (choices && !choices.includes(v as string))
        throw new ConfigError(
          `${where}: "${path}" must be one of ${choices.join(', ')}, not ${describe(v)}`,
        );
      if (shape === 'number' && (!Number.isFinite(v) || (v as number) < 0))
        throw new ConfigError(
          `${where}: "${path}" must be a number of 0 or more, not ${String(v)}`,
        );
      return;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw new ConfigError(`${where}: "${path || '(top)'}" must be an object, not ${describe(v)}`);
    for (const [k, sub] of Object.entries(v)) {
      const p = path ? `${path}.${k}` : k;
      const s = shape[k];
      if (s === undefined) throw new ConfigError(`${where}: unknown config key "${p}"`);
      walk(sub, s, p);
    }
  };
  walk(file, SHAPE, '');
  return file as Record<string, unknown>;
}

/** Reads and checks a config file; throws ConfigError with the reason. */
export function readConfigFile(path: string): Partial<Config> & { listen?: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read config ${path}: ${(e as Error).message}`);
  }
  return checkConfigFile(parsed, path) as Partial<Config> & { listen?: string };
}

export function loadConfig(o: ConfigOverrides): Config {
  const c: Config = structuredClone(DEFAULTS);
  if (o.config) {
    const file = readConfigFile(o.config);
    if (file.listen !== undefined) Object.assign(c, parseListen(file.listen));
    for (const k of ['users', 'homes', 'hostKeys', 'store'] as const)
      if (file[k] !== undefined) c[k] = file[k];
    for (const k of ['allowSymlinks', 'legacyAlgorithms'] as const)
      if (file[k] !== undefined) c[k] = file[k];
    if (file.shutdownGrace !== undefined) c.shutdownGrace = file.shutdownGrace;
    if (file.logFormat !== undefined) c.logFormat = file.logFormat;
    if (file.homesIo !== undefined) c.homesIo = file.homesIo;
    if (file.uploadDigests !== undefined) c.uploadDigests = file.uploadDigests;
    if (file.auditLog !== undefined) c.auditLog = file.auditLog;
    if (file.adminListen !== undefined) c.adminListen = file.adminListen;
    Object.assign(c.metrics, file.metrics);
    if (file.allowFrom !== undefined) c.allowFrom = file.allowFrom;
    if (file.denyFrom !== undefined) c.denyFrom = file.denyFrom;
    if (file.proxyProtocol !== undefined) c.proxyProtocol = file.proxyProtocol;
    Object.assign(c.argon2, file.argon2);
    Object.assign(c.limits, file.limits);
    Object.assign(c.hooks, file.hooks);
    Object.assign(c.rates, file.rates);
    Object.assign(c.cluster, file.cluster);
    const lease = c.cluster.leaseSeconds;
    if (!(lease >= 1 && lease <= 30))
      throw new ConfigError(
        `${o.config}: "cluster.leaseSeconds" must be from 1 to 30, not ${lease}`,
      );
    if (!(c.cluster.grantBatch >= 65536))
      throw new ConfigError(`${o.config}: "cluster.grantBatch" must be at least 65536 bytes`);
  }
  if (o.listen) Object.assign(c, parseListen(o.listen));
  if (o.users) c.users = o.users;
  if (o.homes) c.homes = o.homes;
  if (o.hostKeys) c.hostKeys = o.hostKeys;
  if (o.store !== undefined) {
    checkConfigFile({ store: o.store }, '--store');
    c.store = o.store;
  }
  if (o.auditLog !== undefined) c.auditLog = o.auditLog;
  if (o.proxyProtocol !== undefined) {
    try {
      c.proxyProtocol = parseCidrList(o.proxyProtocol);
    } catch (e) {
      throw new ConfigError(`--proxy-protocol: ${(e as Error).message}`);
    }
  }
  if (o.adminListen !== undefined) {
    parseListen(o.adminListen);
    c.adminListen = o.adminListen;
  }
  if (o.logFormat !== undefined) {
    checkConfigFile({ logFormat: o.logFormat }, '--log-format');
    c.logFormat = o.logFormat as Config['logFormat'];
  }
  c.users = resolve(c.users);
  c.homes = resolve(c.homes);
  c.hostKeys = resolve(c.hostKeys);
  if (c.auditLog && c.auditLog !== '-') c.auditLog = resolve(c.auditLog);
  if (c.adminListen) parseListen(c.adminListen);
  return c;
}

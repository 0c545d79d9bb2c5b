// The help texts of jailsftpd: the overview and one per command (`jailsftpd CMD --help`).
import { RULES } from '../users/rules.js';

export const HELP: Record<string, string> = {
  main: `jailsftpd: SFTP server with jailed homes and quotas

usage:
  jailsftpd [serve] [--config FILE] [--listen HOST:PORT] [--users DIR] [--homes DIR] [--host-keys DIR]
  jailsftpd user add NAME [--quota SIZE] [--password-stdin] [--key FILE_OR_LINE]... [--home DIR]
  jailsftpd user passwd NAME [--password-stdin]
  jailsftpd user key add|remove NAME KEY
  jailsftpd user quota NAME SIZE
  jailsftpd user del NAME [--purge] [--force]
  jailsftpd user list [--json]
  jailsftpd user disable|enable NAME
  jailsftpd user set NAME OPTION...   (see user set --help)
  jailsftpd user show NAME
  jailsftpd user totp NAME enable|disable
  jailsftpd sessions [--admin HOST:PORT] [--json]
  jailsftpd kick NAME [--admin HOST:PORT]
  jailsftpd store init --store URL
  jailsftpd store import --store URL [--users DIR] [--replace]
  jailsftpd hostkey

Sizes: 0 (unlimited), bytes, or a unit: 500M, 2GiB, 1.5G.
Every command takes --config FILE, --users DIR, --homes DIR and --store URL: where the user records
are, file (the users directory, the default) or postgres://USER:PASSWORD@HOST:PORT/DB; also the
config key "store" and the environment variable JAILSFTP_STORE (--store > JAILSFTP_STORE > config).
Run a command with --help for more.`,
  serve: `usage: jailsftpd [serve] [--config FILE] [--listen HOST:PORT] [--users DIR] [--homes DIR] [--host-keys DIR]
                       [--store URL] [--log-format text|json] [--audit-log FILE|-] [--admin-listen HOST:PORT]
                       [--proxy-protocol CIDR[,CIDR]]
Starts the server (default 0.0.0.0:2222, users in ./users, homes in ./home, host keys in ./keys,
created on first start). SIGTERM or Ctrl-C stops it after running transfers finish (grace period).
Log lines go to standard output: \`time event key=value…\`, or one JSON object per line.
--audit-log writes one JSON line per login, logout, transfer and change; --admin-listen serves
/healthz, /metrics and /sessions over HTTP (no authentication: bind it to loopback). SIGHUP re-reads
the config and reopens the audit log. With --store postgres://…, the database must answer and hold
this version's schema (jailsftpd store init), or the server does not start.
--proxy-protocol names the load balancers (HAProxy send-proxy-v2): connections from them must begin
with a PROXY v1 or v2 header, whose client address is then used everywhere; a PROXY header from any
other address is refused.`,
  'user add': `usage: jailsftpd user add NAME [--quota SIZE] [--password-stdin] [--key FILE_OR_LINE]... [--home DIR]
Creates a user. Without --password-stdin and on a terminal it asks for the password twice; without
a terminal and without --password-stdin the user logs in with keys only.`,
  'user passwd': 'usage: jailsftpd user passwd NAME [--password-stdin]\nSets a new password.',
  'user key':
    'usage: jailsftpd user key add|remove NAME KEY\nKEY is a public key line or a file holding one.',
  'user quota': 'usage: jailsftpd user quota NAME SIZE\nSets the quota (0 = unlimited).',
  'user del':
    'usage: jailsftpd user del NAME [--purge] [--force]\nDeletes the user; --purge also deletes the home ' +
    '(never following a symbolic link); a home outside the homes directory needs --force.',
  'user list':
    'usage: jailsftpd user list [--json]\nLists users: name, quota, used, keys; --json for scripts (sizes in bytes).',
  'user disable':
    'usage: jailsftpd user disable NAME\nRefuses the user at login; a running server closes their sessions within a second.',
  'user enable': 'usage: jailsftpd user enable NAME\nLets a disabled user log in again.',
  'user set': `usage: jailsftpd user set NAME OPTION...
Changes a user's rules; a running server applies them to open sessions within a second.
${RULES.map((rule) => `  ${rule.help}`).join('\n')}`,
  'user totp': `usage: jailsftpd user totp NAME enable|disable
enable: a new TOTP secret (printed once as an otpauth:// URI and a QR code); from then on the user
gives a password or key, then a verification code (keyboard-interactive). disable: removes it.`,
  'user show':
    "usage: jailsftpd user show NAME\nPrints a user's record and rules (never the password hash).",
  sessions: `usage: jailsftpd sessions [--admin HOST:PORT] [--json]
Lists the running server's sessions (user, address, since, bytes up and down, open handles),
through its admin listener (config adminListen, or --admin).`,
  kick: `usage: jailsftpd kick NAME [--admin HOST:PORT]
Closes every session of a user on the running server, through its admin listener.`,
  'store init': `usage: jailsftpd store init --store postgres://USER:PASSWORD@HOST:PORT/DB
Creates the PostgreSQL schema, or migrates it to this version's; running it again changes nothing.
Prints the schema version before and after. The server never migrates by itself.`,
  'store import': `usage: jailsftpd store import --store URL [--users DIR] [--replace]
Copies the user records of a users directory (--users, default ./users) into PostgreSQL, with each
user's used bytes from a scan of their home. A user the store already has is skipped (one line
says so) unless --replace. Run jailsftpd store init first.`,
  hostkey:
    'usage: jailsftpd hostkey [--host-keys DIR]\nPrints the host key fingerprints as ssh-keygen -lf does.',
};

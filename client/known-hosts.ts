// Host keys in OpenSSH known_hosts format: trust on first use, refuse a changed key.
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export type HostKeyStatus =
  | { status: 'known' }
  | { status: 'unknown' }
  | { status: 'changed'; file: string; line: number }
  | { status: 'revoked'; file: string; line: number };

/** Where new keys are written: ~/.jailsftp/known_hosts (JAILSFTP_KNOWN_HOSTS overrides). */
export function ownKnownHosts(): string {
  return process.env.JAILSFTP_KNOWN_HOSTS ?? join(homedir(), '.jailsftp', 'known_hosts');
}

/** Files read: ours first, then the user's OpenSSH one. */
export function knownHostsFiles(): string[] {
  return [ownKnownHosts(), join(homedir(), '.ssh', 'known_hosts')];
}

export function hostPattern(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function keyType(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

function hostMatches(field: string, pattern: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const h = createHmac('sha1', Buffer.from(salt, 'base64')).update(pattern).digest('base64');
    return h === hash;
  }
  const names = field.split(',');
  if (names.includes(`!${pattern}`)) return false;
  return names.includes(pattern);
}

export function checkHostKey(
  files: string[],
  host: string,
  port: number,
  blob: Buffer,
): HostKeyStatus {
  const pattern = hostPattern(host, port);
  const type = keyType(blob);
  const b64 = blob.toString('base64');
  let known = false;
  let changed: HostKeyStatus | undefined;
  for (const file of files) {
    if (!existsSync(file)) continue;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (!line || line.startsWith('#')) continue;
      let fields = line.split(/\s+/);
      let marker = '';
      if (fields[0]!.startsWith('@')) {
        marker = fields[0]!;
        fields = fields.slice(1);
      }
      const [hosts, ktype, kb64] = fields;
      if (!hosts || !ktype || !kb64 || marker === '@cert-authority') continue;
      if (marker === '@revoked') {
        if (kb64 === b64) return { status: 'revoked', file, line: i + 1 };
        continue;
      }
      if (!hostMatches(hosts, pattern)) continue;
      if (kb64 === b64) known = true;
      else if (ktype === type && !changed) changed = { status: 'changed', file, line: i + 1 };
    }
  }
  if (changed && !known) return changed;
  return known ? { status: 'known' } : { status: 'unknown' };
}

export function addHostKey(file: string, host: string, port: number, blob: Buffer): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  appendFileSync(file, `${hostPattern(host, port)} ${keyType(blob)} ${blob.toString('base64')}\n`, {
    mode: 0o600,
  });
}

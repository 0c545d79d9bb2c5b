// Host keys: ed25519 (and RSA for old clients), created in the keys directory on first start.
import { createHash, createPublicKey } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';

const KINDS = [
  { file: 'ssh_host_ed25519_key', type: 'ed25519' as const, label: 'ED25519' },
  { file: 'ssh_host_rsa_key', type: 'rsa' as const, label: 'RSA' },
];

export interface HostKey {
  file: string;
  privateKey: string;
  publicKey: string;
  /** as `ssh-keygen -lf` prints it: bits, SHA256:..., comment, (TYPE) */
  fingerprintLine: string;
}

/**
 * Loads the host keys, creating missing ones (mode 0600). Returns them with `created` flags.
 * Several nodes may start at once on one shared keys directory (a cluster): a new key is written
 * in full under a temporary name and then hard-linked into place, which fails if another node got
 * there first; then that node's key is the one used, so every node ends up with the same keys.
 */
export function ensureHostKeys(dir: string): { keys: HostKey[]; created: string[] } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const created: string[] = [];
  for (const k of KINDS) {
    const path = join(dir, k.file);
    if (existsSync(path)) continue;
    const pair = generateKeyPair(k.type, 'jailsftpd');
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, pair.private, { mode: 0o600 });
    try {
      linkSync(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue; // another node's key won
      throw e;
    } finally {
      rmSync(tmp, { force: true });
    }
    writeFileSync(`${path}.pub`, pair.public + '\n', { mode: 0o644 });
    created.push(path);
  }
  return { keys: loadHostKeys(dir), created };
}

/**
 * A key pair in OpenSSH format. ssh2's generator writes a malformed key about once in 400 ed25519
 * keys (a public key whose first byte is 0 loses it), so every pair is parsed back and remade
 * until both halves are sound.
 */
export function generateKeyPair(
  type: 'ed25519' | 'rsa',
  comment = '',
): { private: string; public: string } {
  for (;;) {
    const pair =
      type === 'rsa'
        ? ssh2.utils.generateKeyPairSync('rsa', { bits: 3072, comment })
        : ssh2.utils.generateKeyPairSync('ed25519', { comment });
    const pub = ssh2.utils.parseKey(pair.public);
    const priv = ssh2.utils.parseKey(pair.private);
    if (pub instanceof Error || priv instanceof Error || Array.isArray(pub) || Array.isArray(priv))
      continue;
    if (pub.getPublicSSH().equals(priv.getPublicSSH())) return pair;
  }
}

export function loadHostKeys(dir: string): HostKey[] {
  const out: HostKey[] = [];
  for (const k of KINDS) {
    const path = join(dir, k.file);
    if (!existsSync(path)) continue;
    const privateKey = readFileSync(path, 'utf8');
    const parsed = ssh2.utils.parseKey(privateKey);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || key instanceof Error) throw new Error(`cannot parse host key ${path}`);
    const blob = key.getPublicSSH();
    const publicKey = `${key.type} ${blob.toString('base64')}`;
    out.push({
      file: path,
      privateKey,
      publicKey,
      fingerprintLine: fingerprintLine(publicKey, key.comment || 'jailsftpd'),
    });
  }
  return out;
}

/** "256 SHA256:abc… comment (ED25519)", like ssh-keygen -lf. */
export function fingerprintLine(publicKeyLine: string, comment: string): string {
  const parsed = ssh2.utils.parseKey(publicKeyLine);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) throw new Error('cannot parse public key');
  const blob = key.getPublicSSH();
  const fp = createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
  const pem = key.getPublicPEM();
  const details = createPublicKey(pem).asymmetricKeyDetails;
  const bits = key.type === 'ssh-ed25519' ? 256 : (details?.modulusLength ?? 0);
  const label =
    key.type === 'ssh-ed25519'
      ? 'ED25519'
      : key.type === 'ssh-rsa'
        ? 'RSA'
        : key.type.toUpperCase();
  return `${bits} SHA256:${fp} ${comment} (${label})`;
}

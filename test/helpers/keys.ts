// SSH key pairs for tests and the bench: made in-process (no ssh-keygen), written as OpenSSH files.
import { writeFileSync } from 'node:fs';
import { generateKeyPair } from '../../server/ssh/hostkeys.js';

export interface KeyPair {
  /** private key in OpenSSH format */
  private: string;
  /** public key line (`ssh-ed25519 AAAA…`) */
  public: string;
}

/** A new ed25519 key pair written to `file` (mode 0600) and `file.pub`. */
export function keyPairFile(file: string): KeyPair {
  const kp = generateKeyPair('ed25519');
  writeFileSync(file, kp.private, { mode: 0o600 });
  writeFileSync(`${file}.pub`, kp.public + '\n');
  return { private: kp.private, public: kp.public };
}

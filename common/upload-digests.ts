// How a client says that it verifies its uploads by their SHA-256: an SSH "env" request (RFC 4254
// 6.4) on its session channel, sent before the sftp subsystem starts. With `uploadDigests: auto`
// (the default) jailsftpd then hashes that connection's uploads as they arrive, so that the
// `sha256sum` right after each one is answered at once; other connections' uploads are not hashed
// unless something reads the digest (the audit log, upload hooks). Our `ftp>` client sends it; a
// user of OpenSSH's sftp can too: `sftp -o SetEnv=JAILSFTP_UPLOAD_DIGESTS=1 ...`.
export const UPLOAD_DIGESTS_ENV = 'JAILSFTP_UPLOAD_DIGESTS';

/** Whether an env request's value turns it on. */
export function asksUploadDigests(value: string): boolean {
  return /^(1|yes|true|on)$/i.test(value.trim());
}

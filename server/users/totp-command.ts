// `jailsftpd user totp NAME enable|disable`: turns a user's second factor on (a new secret, shown
// once as an otpauth:// URI and a QR code for the terminal) or off.
import qrcode from 'qrcode-terminal';
import { newTotp } from './totp.js';
import type { UserRecord } from './store.js';

/** Changes the record and returns what to print; throws on an unknown action. */
export async function totpCommand(
  put: (r: UserRecord) => Promise<void>,
  r: UserRecord,
  action: string | undefined,
): Promise<string> {
  if (action === 'disable') {
    const was = r.totp !== undefined;
    delete r.totp;
    await put(r);
    return was ? `user ${r.name}: TOTP disabled` : `user ${r.name}: TOTP was not enabled`;
  }
  if (action !== 'enable') throw new Error('usage: jailsftpd user totp NAME enable|disable');
  const { record, uri } = newTotp(r.name);
  r.totp = record;
  await put(r);
  let qr = '';
  qrcode.generate(uri, { small: true }, (text) => (qr = text));
  return [
    `user ${r.name}: TOTP enabled (a new secret; any earlier one no longer works)`,
    'Add it to an authenticator app: scan the code or enter the URI.',
    uri,
    qr,
  ].join('\n');
}

// The SSH identification line a server sends first ("SSH-2.0-OpenSSH_9.2p1 ...").
import { connect } from 'node:net';

export function banner(host: string, port: number, timeoutMs = 3000): Promise<string> {
  return new Promise((res, rej) => {
    const s = connect(port, host);
    let buf = '';
    const t = setTimeout(() => {
      s.destroy();
      rej(new Error('no banner'));
    }, timeoutMs);
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const i = buf.indexOf('\n');
      if (i >= 0) {
        clearTimeout(t);
        s.destroy();
        res(buf.slice(0, i).trim());
      }
    });
    s.on('error', (e) => {
      clearTimeout(t);
      rej(e);
    });
  });
}

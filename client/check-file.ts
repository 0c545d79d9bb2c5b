// sha256 of a byte range of a remote file through the check-file-name extension
// (draft-ietf-secsh-filexfer-extensions-00). ssh2's SFTP object drops the data of extended replies it
// does not know, so this opens a second, raw sftp channel and speaks the three packets it needs.
import type { Client, ClientChannel } from 'ssh2';

const INIT = 1;
const VERSION = 2;
const STATUS = 101;
const EXTENDED = 200;
const EXTENDED_REPLY = 201;

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

function packet(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length + 1);
  head[4] = type;
  return Buffer.concat([head, body]);
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** Reads length-prefixed packets from a channel. */
function packets(ch: ClientChannel, onPacket: (type: number, body: Buffer) => void): void {
  let buf = Buffer.alloc(0);
  ch.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0);
      if (buf.length < 4 + len) break;
      onPacket(buf[4]!, buf.subarray(5, 4 + len));
      buf = buf.subarray(4 + len);
    }
  });
}

/** Hex sha256 of remote bytes [offset, offset+length), or null when the server cannot say. */
export function remoteRangeSha256(
  ssh: Client,
  path: string,
  offset: number,
  length: number,
): Promise<string | null> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (v: string | null, ch?: ClientChannel): void => {
      if (settled) return;
      settled = true;
      ch?.end();
      resolve(v);
    };
    try {
      ssh.subsys('sftp', (err, ch) => {
        if (err) return done(null);
        ch.on('close', () => done(null));
        ch.stderr.on('data', () => undefined);
        packets(ch, (type, body) => {
          if (type === VERSION) {
            if (!body.includes(Buffer.from('check-file-name'))) return done(null, ch);
            const req = Buffer.concat([
              Buffer.from([0, 0, 0, 1]),
              str('check-file-name'),
              str(path),
              str('sha256'),
              u64(offset),
              u64(length),
              Buffer.alloc(4),
            ]);
            ch.write(packet(EXTENDED, req));
          } else if (type === EXTENDED_REPLY) {
            // uint32 id, string "check-file", string algorithm, then the hash bytes
            let p = 4;
            const name = body.subarray(p + 4, p + 4 + body.readUInt32BE(p)).toString();
            p += 4 + body.readUInt32BE(p);
            const alg = body.subarray(p + 4, p + 4 + body.readUInt32BE(p)).toString();
            p += 4 + body.readUInt32BE(p);
            const hash = body.subarray(p);
            done(
              name === 'check-file' && alg === 'sha256' && hash.length === 32
                ? hash.toString('hex')
                : null,
              ch,
            );
          } else if (type === STATUS) done(null, ch);
        });
        const ver = Buffer.alloc(4);
        ver.writeUInt32BE(3);
        ch.write(packet(INIT, ver));
      });
    } catch {
      done(null);
    }
  });
}

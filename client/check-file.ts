// sha256 of a byte range of a remote file through the check-file-name extension
// (draft-ietf-secsh-filexfer-extensions-00). ssh2's SFTP object drops the data of extended replies it
// does not know, so this opens a second, raw sftp channel and speaks the three packets it needs,
// trusting nothing the server sends: packets are bounded, every field is bounds-checked.
import type { Client, ClientChannel } from 'ssh2';
import {
  DecodeError,
  MAX_PACKET,
  PacketType,
  Reader,
  SFTP_VERSION,
  Writer,
} from '../common/wire.js';
import { Interrupted } from './errors.js';

/** The server broke the protocol on the check-file channel. */
export class CheckFileError extends Error {}

/**
 * Splits a byte stream into SFTP packets (type, body). Chunks are kept in a list and joined once a
 * whole packet is there, so that a large packet costs one copy, not one per chunk. A declared length
 * of 0 or over MAX_PACKET throws a CheckFileError and the framer accepts nothing more.
 */
export class PacketFramer {
  private chunks: Buffer[] = [];
  private have = 0;
  private broken = false;

  push(data: Buffer, onPacket: (type: number, body: Buffer) => void): void {
    if (this.broken) return;
    this.chunks.push(data);
    this.have += data.length;
    while (this.have >= 4) {
      const len = this.peekLength();
      if (len === 0 || len > MAX_PACKET) {
        this.broken = true;
        this.chunks = [];
        this.have = 0;
        throw new CheckFileError(
          `the server sent a packet of ${len} bytes (at most ${MAX_PACKET} allowed)`,
        );
      }
      if (this.have < 4 + len) return;
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      const rest = all.subarray(4 + len);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.have = rest.length;
      onPacket(all[4]!, all.subarray(5, 4 + len));
    }
  }

  /** The declared length of the packet at the front, joining chunks only when it straddles them. */
  private peekLength(): number {
    if (this.chunks[0]!.length < 4) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.readUInt32BE(0);
  }
}

/** true when a VERSION body (uint32 version, then name/data string pairs) announces check-file-name. */
function announcesCheckFile(body: Buffer): boolean {
  const r = new Reader(body);
  r.u32();
  let rest = r.rest();
  while (rest.length > 0) {
    const ext = new Reader(rest);
    const name = ext.string();
    ext.bytes();
    if (name === 'check-file-name') return true;
    rest = ext.rest();
  }
  return false;
}

/** The request: check-file-name PATH sha256 OFFSET LENGTH, block size 0 (one hash of the range). */
function checkFileRequest(id: number, path: string, offset: number, length: number): Buffer {
  return new Writer()
    .u8(PacketType.EXTENDED)
    .u32(id)
    .string('check-file-name')
    .string(path)
    .string('sha256')
    .u64(offset)
    .u64(length)
    .u32(0)
    .finish();
}

/** The hex digest in an EXTENDED_REPLY: uint32 id, string "check-file", string "sha256", 32 bytes. */
function parseReply(body: Buffer, id: number): string {
  const r = new Reader(body);
  if (r.u32() !== id) throw new DecodeError('reply to an unknown request');
  const name = r.string();
  const alg = r.string();
  const hash = r.rest();
  if (name !== 'check-file' || alg !== 'sha256' || hash.length !== 32)
    throw new DecodeError('not a sha256 check-file reply');
  return hash.toString('hex');
}

export interface RangeHashOptions {
  /** aborting ends the channel and rejects with Interrupted */
  signal?: AbortSignal;
}

/**
 * Hex sha256 of remote bytes [offset, offset+length), or null when the server cannot say (no such
 * extension, a status reply, the channel closed). Rejects with a CheckFileError when the server
 * sends what the protocol does not allow (a packet out of place or too large, a field cut short, a
 * reply that is not a sha256 of the range), and with Interrupted as soon as the signal aborts.
 */
export function remoteRangeSha256(
  ssh: Client,
  path: string,
  offset: number,
  length: number,
  opts: RangeHashOptions = {},
): Promise<string | null> {
  const { signal } = opts;
  return new Promise((resolve, reject) => {
    let settled = false;
    let channel: ClientChannel | undefined;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      channel?.end();
      channel?.close();
      fn();
    };
    const done = (v: string | null): void => finish(() => resolve(v));
    const fail = (err: Error): void => finish(() => reject(err));
    function onAbort(): void {
      fail(new Interrupted());
    }
    if (signal?.aborted) return reject(new Interrupted());
    signal?.addEventListener('abort', onAbort, { once: true });

    const id = 1;
    const framer = new PacketFramer();
    let asked = false;
    const onPacket = (type: number, body: Buffer): void => {
      if (settled) return;
      if (type === PacketType.VERSION && !asked) {
        if (!announcesCheckFile(body)) return done(null);
        asked = true;
        channel!.write(checkFileRequest(id, path, offset, length));
      } else if (type === PacketType.EXTENDED_REPLY && asked) done(parseReply(body, id));
      else if (type === PacketType.STATUS && asked) done(null);
      else throw new DecodeError(`unexpected packet type ${type}`);
    };
    try {
      ssh.subsys('sftp', (err, ch) => {
        if (err) return done(null);
        channel = ch;
        if (settled) return void ch.close();
        ch.on('close', () => done(null));
        ch.on('error', () => done(null));
        ch.stderr.on('data', () => undefined);
        ch.on('data', (d: Buffer) => {
          if (settled) return;
          try {
            framer.push(d, onPacket);
          } catch (e) {
            fail(
              e instanceof DecodeError
                ? new CheckFileError(`${path}: malformed check-file reply (${e.message})`)
                : new CheckFileError(`${path}: ${e instanceof Error ? e.message : String(e)}`),
            );
          }
        });
        ch.write(new Writer().u8(PacketType.INIT).u32(SFTP_VERSION).finish());
      });
    } catch {
      done(null);
    }
  });
}

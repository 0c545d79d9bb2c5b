// The pure SFTP v3 codec: bytes in, typed values out, and back. No I/O, no state.
// decodeRequest never throws: malformed input comes back as { ok: false }.
import {
  DecodeError,
  PacketType,
  Reader,
  SFTP_VERSION,
  Writer,
  type Attrs,
  type Status,
} from '../../common/wire.js';

export type Request =
  | { type: PacketType.OPEN; id: number; path: string; pflags: number; attrs: Attrs }
  | { type: PacketType.CLOSE; id: number; handle: Buffer }
  | { type: PacketType.READ; id: number; handle: Buffer; offset: number; length: number }
  | { type: PacketType.WRITE; id: number; handle: Buffer; offset: number; data: Buffer }
  | { type: PacketType.LSTAT | PacketType.STAT; id: number; path: string }
  | { type: PacketType.FSTAT; id: number; handle: Buffer }
  | { type: PacketType.SETSTAT; id: number; path: string; attrs: Attrs }
  | { type: PacketType.FSETSTAT; id: number; handle: Buffer; attrs: Attrs }
  | { type: PacketType.OPENDIR; id: number; path: string }
  | { type: PacketType.READDIR; id: number; handle: Buffer }
  | { type: PacketType.REMOVE | PacketType.RMDIR; id: number; path: string }
  | { type: PacketType.MKDIR; id: number; path: string; attrs: Attrs }
  | { type: PacketType.REALPATH | PacketType.READLINK; id: number; path: string }
  | { type: PacketType.RENAME; id: number; oldPath: string; newPath: string }
  | { type: PacketType.SYMLINK; id: number; first: string; second: string }
  | { type: PacketType.EXTENDED; id: number; name: string; payload: Buffer };

export type Decoded<T> =
  { ok: true; value: T } | { ok: false; id: number | undefined; reason: string };

/** Decodes one request packet body (type byte first, length prefix already removed). */
export function decodeRequest(body: Buffer): Decoded<Request> {
  let id: number | undefined;
  try {
    const r = new Reader(body);
    const type = r.u8();
    id = r.u32();
    const value = decodeBody(type, id, r);
    return { ok: true, value };
  } catch (e) {
    return { ok: false, id, reason: e instanceof DecodeError ? e.message : 'malformed packet' };
  }
}

function decodeBody(type: number, id: number, r: Reader): Request {
  switch (type) {
    case PacketType.OPEN:
      return { type, id, path: r.path(), pflags: r.u32(), attrs: r.attrs() };
    case PacketType.CLOSE:
    case PacketType.FSTAT:
    case PacketType.READDIR:
      return { type, id, handle: r.bytes() };
    case PacketType.READ:
      return { type, id, handle: r.bytes(), offset: r.u64(), length: r.u32() };
    case PacketType.WRITE:
      return { type, id, handle: r.bytes(), offset: r.u64(), data: r.bytes() };
    case PacketType.LSTAT:
    case PacketType.STAT:
    case PacketType.OPENDIR:
    case PacketType.REMOVE:
    case PacketType.RMDIR:
    case PacketType.REALPATH:
    case PacketType.READLINK:
      return { type, id, path: r.path() };
    case PacketType.SETSTAT:
    case PacketType.MKDIR:
      return { type, id, path: r.path(), attrs: r.attrs() };
    case PacketType.FSETSTAT:
      return { type, id, handle: r.bytes(), attrs: r.attrs() };
    case PacketType.RENAME:
      return { type, id, oldPath: r.path(), newPath: r.path() };
    case PacketType.SYMLINK:
      return { type, id, first: r.path(), second: r.path() };
    case PacketType.EXTENDED:
      return { type, id, name: r.string(), payload: r.rest() };
    default:
      throw new DecodeError(`unknown packet type ${type}`);
  }
}

export interface NameEntry {
  filename: string;
  longname: string;
  attrs: Attrs;
}

export const encode = {
  version(extensions: ReadonlyArray<readonly [string, string]>): Buffer {
    const w = new Writer().u8(PacketType.VERSION).u32(SFTP_VERSION);
    for (const [name, data] of extensions) w.string(name).string(data);
    return w.finish();
  },
  status(id: number, code: Status, message: string): Buffer {
    return new Writer(64 + message.length)
      .u8(PacketType.STATUS)
      .u32(id)
      .u32(code)
      .string(message)
      .string('en')
      .finish();
  },
  handle(id: number, handle: Buffer): Buffer {
    return new Writer(32).u8(PacketType.HANDLE).u32(id).bytes(handle).finish();
  },
  attrs(id: number, attrs: Attrs): Buffer {
    return new Writer(64).u8(PacketType.ATTRS).u32(id).attrs(attrs).finish();
  },
  name(id: number, entries: readonly NameEntry[]): Buffer {
    const w = new Writer(64 + entries.length * 128).u8(PacketType.NAME).u32(id).u32(entries.length);
    for (const e of entries) w.string(e.filename).string(e.longname).attrs(e.attrs);
    return w.finish();
  },
  extendedReply(id: number, build: (w: Writer) => void): Buffer {
    const w = new Writer(128).u8(PacketType.EXTENDED_REPLY).u32(id);
    build(w);
    return w.finish();
  },
};

/** Header size of a DATA reply: length(4) type(1) id(4) data-length(4). */
export const DATA_HEADER = 13;

/**
 * Fills in the header of a DATA reply whose payload was read straight into buf[13..13+n),
 * so that file data is never copied on its way out.
 */
export function finishData(buf: Buffer, id: number, n: number): Buffer {
  buf.writeUInt32BE(9 + n, 0);
  buf[4] = PacketType.DATA;
  buf.writeUInt32BE(id >>> 0, 5);
  buf.writeUInt32BE(n, 9);
  return buf.subarray(0, DATA_HEADER + n);
}

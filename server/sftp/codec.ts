// The pure SFTP v3 codec: bytes in, typed values out, and back. No I/O, no state.
// decodeRequest never throws: malformed input comes back as { ok: false }.
import { AttrFlag, MAX_PATH, PacketType, SFTP_VERSION, type Status } from './constants.js';

export interface Attrs {
  size?: number;
  uid?: number;
  gid?: number;
  permissions?: number;
  atime?: number;
  mtime?: number;
}

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

export class DecodeError extends Error {}

/** A bounds-checked cursor over one packet's bytes. */
export class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.buf.length - this.pos < n) throw new DecodeError('packet too short');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  /** uint64 as a number; values past 2^53 are refused rather than rounded. */
  u64(): number {
    this.need(8);
    const hi = this.buf.readUInt32BE(this.pos);
    const lo = this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    if (hi > 0x1fffff) throw new DecodeError('64-bit value too large');
    return hi * 0x100000000 + lo;
  }
  bytes(): Buffer {
    const len = this.u32();
    this.need(len);
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }
  string(): string {
    return this.bytes().toString('utf8');
  }
  /** A path: valid UTF-8, no NUL, bounded length. */
  path(): string {
    const b = this.bytes();
    if (b.length > MAX_PATH) throw new DecodeError('path too long');
    if (b.includes(0)) throw new DecodeError('NUL byte in path');
    let s: string;
    try {
      s = utf8.decode(b);
    } catch {
      throw new DecodeError('path is not valid UTF-8');
    }
    return s;
  }
  attrs(): Attrs {
    const flags = this.u32();
    const a: Attrs = {};
    if (flags & AttrFlag.SIZE) a.size = this.u64();
    if (flags & AttrFlag.UIDGID) {
      a.uid = this.u32();
      a.gid = this.u32();
    }
    if (flags & AttrFlag.PERMISSIONS) a.permissions = this.u32();
    if (flags & AttrFlag.ACMODTIME) {
      a.atime = this.u32();
      a.mtime = this.u32();
    }
    if (flags & AttrFlag.EXTENDED) {
      const count = this.u32();
      if (count > 1024) throw new DecodeError('too many extended attributes');
      for (let i = 0; i < count; i++) {
        this.bytes();
        this.bytes();
      }
    }
    return a;
  }
  rest(): Buffer {
    const b = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return b;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

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
      return { type, id, path: r.path(), attrs: r.attrs() };
    case PacketType.FSETSTAT:
      return { type, id, handle: r.bytes(), attrs: r.attrs() };
    case PacketType.MKDIR:
      return { type, id, path: r.path(), attrs: r.attrs() };
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

/** Builds packets: a length prefix, then the body. Grows as needed. */
export class Writer {
  private buf: Buffer;
  private pos = 4;
  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }
  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }
  u64(v: number): this {
    this.ensure(8);
    this.buf.writeUInt32BE(Math.floor(v / 0x100000000) >>> 0, this.pos);
    this.buf.writeUInt32BE(v >>> 0, this.pos + 4);
    this.pos += 8;
    return this;
  }
  bytes(b: Buffer): this {
    this.u32(b.length);
    this.ensure(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
    return this;
  }
  string(s: string): this {
    const len = Buffer.byteLength(s);
    this.u32(len);
    this.ensure(len);
    this.buf.write(s, this.pos, 'utf8');
    this.pos += len;
    return this;
  }
  attrs(a: Attrs): this {
    let flags = 0;
    if (a.size !== undefined) flags |= AttrFlag.SIZE;
    if (a.uid !== undefined && a.gid !== undefined) flags |= AttrFlag.UIDGID;
    if (a.permissions !== undefined) flags |= AttrFlag.PERMISSIONS;
    if (a.atime !== undefined && a.mtime !== undefined) flags |= AttrFlag.ACMODTIME;
    this.u32(flags);
    if (a.size !== undefined) this.u64(a.size);
    if (flags & AttrFlag.UIDGID) this.u32(a.uid!).u32(a.gid!);
    if (a.permissions !== undefined) this.u32(a.permissions);
    if (flags & AttrFlag.ACMODTIME) this.u32(a.atime!).u32(a.mtime!);
    return this;
  }
  /** The finished packet, with its length prefix filled in. */
  finish(): Buffer {
    this.buf.writeUInt32BE(this.pos - 4, 0);
    return this.buf.subarray(0, this.pos);
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

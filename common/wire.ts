// The SFTP v3 wire format (draft-ietf-secsh-filexfer-02), the one place that spells it out:
// packet types, status codes, flags, the bounds both ends keep, and a bounds-checked reader and a writer.
// The server codec, the client and the test helpers all build on it.

export const SFTP_VERSION = 3;

export enum PacketType {
  INIT = 1,
  VERSION = 2,
  OPEN = 3,
  CLOSE = 4,
  READ = 5,
  WRITE = 6,
  LSTAT = 7,
  FSTAT = 8,
  SETSTAT = 9,
  FSETSTAT = 10,
  OPENDIR = 11,
  READDIR = 12,
  REMOVE = 13,
  MKDIR = 14,
  RMDIR = 15,
  REALPATH = 16,
  STAT = 17,
  RENAME = 18,
  READLINK = 19,
  SYMLINK = 20,
  STATUS = 101,
  HANDLE = 102,
  DATA = 103,
  NAME = 104,
  ATTRS = 105,
  EXTENDED = 200,
  EXTENDED_REPLY = 201,
}

export enum Status {
  OK = 0,
  EOF = 1,
  NO_SUCH_FILE = 2,
  PERMISSION_DENIED = 3,
  FAILURE = 4,
  BAD_MESSAGE = 5,
  NO_CONNECTION = 6,
  CONNECTION_LOST = 7,
  OP_UNSUPPORTED = 8,
}

export const OpenFlag = {
  READ: 0x01,
  WRITE: 0x02,
  APPEND: 0x04,
  CREAT: 0x08,
  TRUNC: 0x10,
  EXCL: 0x20,
} as const;

export const AttrFlag = {
  SIZE: 0x01,
  UIDGID: 0x02,
  PERMISSIONS: 0x04,
  ACMODTIME: 0x08,
  EXTENDED: 0x80000000,
} as const;

/** Largest packet we accept or send (OpenSSH uses the same). */
export const MAX_PACKET = 256 * 1024;
/** READ and WRITE payloads are clamped to this (what limits@openssh.com announces). */
export const MAX_DATA = 255 * 1024;
/** Names per READDIR reply. */
export const MAX_NAMES_PER_READDIR = 100;
/** Longest path string we accept in a request. */
export const MAX_PATH = 4096;

export interface Attrs {
  size?: number;
  uid?: number;
  gid?: number;
  permissions?: number;
  atime?: number;
  mtime?: number;
}

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

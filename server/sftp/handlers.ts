// The one table of SFTP request handlers, keyed by packet type, and the extensions keyed by name.
// Each handler parses nothing (the codec did), makes its storage call and builds its reply.
import { HandleTable, type Handle } from './handles.js';
import { encode, finishData, DATA_HEADER, type Request } from './codec.js';
import {
  MAX_DATA,
  MAX_NAMES_PER_READDIR,
  MAX_PACKET,
  OpenFlag,
  PacketType,
  Reader,
  Status,
  type Attrs,
} from '../../common/wire.js';
import { longname } from '../../common/format.js';
import { attrsFromStats } from './attrs.js';
import { ProtocolError } from './status.js';
import type { Capability, HashAlgorithm, SetAttrs, Storage, StoredFile } from '../fs/storage.js';

/** What a handler may use: the user's storage and this session's handles. */
export interface Session {
  readonly fs: Storage;
  readonly handles: HandleTable;
  readonly user: string;
}

export type Reply = Buffer | Promise<Buffer>;
type RequestOf<K extends PacketType> = Request & { type: K };
type Handler<K extends PacketType> = (s: Session, req: RequestOf<K>) => Reply;
type Table = { [K in PacketType]?: Handler<K> };

const ok = (id: number): Buffer => encode.status(id, Status.OK, 'Success');

function setAttrs(a: Attrs): SetAttrs {
  // uid/gid are ignored: users cannot give files away
  return { size: a.size, permissions: a.permissions, atime: a.atime, mtime: a.mtime };
}

/** Closes what a handle holds (CLOSE, a full handle table, the end of the session). */
export function closeHandle(s: Session, h: Handle): Promise<void> {
  return h.kind === 'file' ? s.fs.close(h.file) : s.fs.closedir(h.dir);
}

/** A HANDLE reply for a file or directory just opened; it is closed again if the table is full. */
async function handleReply(s: Session, id: number, h: Handle): Promise<Buffer> {
  try {
    return encode.handle(id, s.handles.add(h));
  } catch (e) {
    await closeHandle(s, h);
    throw e;
  }
}

/** Reads up to this size are not clamped to the file's size (no fstat needed to size the buffer). */
const SMALL_READ = 4096;

/**
 * How much a READ asks of the disk: the request's length (at most MAX_DATA) clamped to what the
 * file holds past the offset. OpenSSH's sftp asks for 255 KiB (our limits@openssh.com) even for a
 * 4 KiB file: a buffer of the full length for every request was ~250 KiB of garbage per small file
 * (a garbage-collection storm), and its length sent the read to the thread pool (io.ts). At or past
 * the end it still reads (a small buffer): a file that grew meanwhile answers its new bytes, and
 * EOF comes from the disk, not from a size seen earlier. The size is the one the storage last saw
 * for this handle (`sizeSeen`: no system call), else an fstat.
 */
async function readLength(
  s: Session,
  file: StoredFile,
  offset: number,
  asked: number,
): Promise<number> {
  const want = Math.min(asked, MAX_DATA);
  if (want <= SMALL_READ) return want;
  const size = file.sizeSeen ?? (await s.fs.fstat(file)).size;
  const left = size - offset;
  return left > 0 ? Math.min(want, left) : SMALL_READ;
}

function nameReply(id: number, path: string): Buffer {
  return encode.name(id, [{ filename: path, longname: path, attrs: {} }]);
}

export const handlers: Table = {
  [PacketType.OPEN]: async (s, r) => {
    const f = r.pflags;
    const file = await s.fs.open(
      r.path,
      {
        read: (f & OpenFlag.READ) !== 0,
        write: (f & OpenFlag.WRITE) !== 0,
        append: (f & OpenFlag.APPEND) !== 0,
        create: (f & OpenFlag.CREAT) !== 0,
        truncate: (f & OpenFlag.TRUNC) !== 0,
        exclusive: (f & OpenFlag.EXCL) !== 0,
      },
      r.attrs.permissions ?? 0o644,
    );
    return handleReply(s, r.id, { kind: 'file', file });
  },

  [PacketType.CLOSE]: async (s, r) => {
    await closeHandle(s, s.handles.remove(r.handle));
    return ok(r.id);
  },

  [PacketType.READ]: async (s, r) => {
    const file = s.handles.file(r.handle);
    const len = await readLength(s, file, r.offset, r.length);
    const buf = Buffer.allocUnsafe(DATA_HEADER + len);
    const n = len === 0 ? 0 : await s.fs.read(file, r.offset, len, buf, DATA_HEADER);
    if (n === 0 && len > 0) return encode.status(r.id, Status.EOF, 'End of file');
    return finishData(buf, r.id, n);
  },

  [PacketType.WRITE]: async (s, r) => {
    await s.fs.write(s.handles.file(r.handle), r.offset, r.data);
    return ok(r.id);
  },

  [PacketType.LSTAT]: async (s, r) => encode.attrs(r.id, attrsFromStats(await s.fs.lstat(r.path))),
  [PacketType.STAT]: async (s, r) => encode.attrs(r.id, attrsFromStats(await s.fs.stat(r.path))),

  [PacketType.FSTAT]: async (s, r) => {
    const h = s.handles.get(r.handle);
    const st = await (h.kind === 'file' ? s.fs.fstat(h.file) : s.fs.stat(h.dir.path));
    return encode.attrs(r.id, attrsFromStats(st));
  },

  [PacketType.SETSTAT]: async (s, r) => {
    await s.fs.setstat(r.path, setAttrs(r.attrs));
    return ok(r.id);
  },

  [PacketType.FSETSTAT]: async (s, r) => {
    const h = s.handles.get(r.handle);
    if (h.kind === 'file') await s.fs.fsetstat(h.file, setAttrs(r.attrs));
    else await s.fs.setstat(h.dir.path, setAttrs(r.attrs));
    return ok(r.id);
  },

  [PacketType.OPENDIR]: async (s, r) =>
    handleReply(s, r.id, { kind: 'dir', dir: await s.fs.opendir(r.path) }),

  [PacketType.READDIR]: async (s, r) => {
    const entries = await s.fs.readdir(s.handles.dir(r.handle), MAX_NAMES_PER_READDIR);
    if (entries.length === 0) return encode.status(r.id, Status.EOF, 'End of file');
    const now = Date.now();
    return encode.name(
      r.id,
      entries.map((e) => ({
        filename: e.name,
        longname: longname(e.name, e.stats, s.user, now),
        attrs: attrsFromStats(e.stats),
      })),
    );
  },

  [PacketType.REMOVE]: async (s, r) => {
    await s.fs.remove(r.path);
    return ok(r.id);
  },
  [PacketType.MKDIR]: async (s, r) => {
    await s.fs.mkdir(r.path, r.attrs.permissions ?? 0o755);
    return ok(r.id);
  },
  [PacketType.RMDIR]: async (s, r) => {
    await s.fs.rmdir(r.path);
    return ok(r.id);
  },
  [PacketType.REALPATH]: async (s, r) => nameReply(r.id, await s.fs.realpath(r.path)),
  [PacketType.RENAME]: async (s, r) => {
    await s.fs.rename(r.oldPath, r.newPath, false);
    return ok(r.id);
  },
  [PacketType.READLINK]: async (s, r) => nameReply(r.id, await s.fs.readlink(r.path)),
  // OpenSSH sends (target, link), the draft says (link, target); it is refused by default anyway
  [PacketType.SYMLINK]: async (s, r) => {
    await s.fs.symlink(r.second, r.first);
    return ok(r.id);
  },
};

// ---- extensions ---------------------------------------------------------------------------------

interface Extension {
  /** the data string announced in VERSION */
  version: string;
  /** the storage capability it uses: not advertised when the storage does not offer it */
  needs?: Capability;
  run(s: Session, id: number, p: Reader): Reply;
}

const HASHES: readonly HashAlgorithm[] = ['md5', 'sha1', 'sha256', 'sha512'];
const DIGEST_BYTES: Record<HashAlgorithm, number> = { md5: 16, sha1: 20, sha256: 32, sha512: 64 };
/** room in a check-file reply besides the digests (header, "check-file", the algorithm's name) */
const CHECK_FILE_OVERHEAD = 64;

/** Most blocks of one algorithm that one check-file reply can carry. */
export function maxCheckFileBlocks(alg: HashAlgorithm): number {
  return Math.floor((MAX_PACKET - CHECK_FILE_OVERHEAD) / DIGEST_BYTES[alg]);
}

/**
 * check-file-name / check-file-handle. The reply's size is known before any byte is read (block
 * count from the range and the block size): a request whose digests could not fit in one packet is
 * refused at once, so a client cannot make the server hash, or hold, more than one reply's worth.
 */
async function checkFile(s: Session, id: number, p: Reader, byHandle: boolean): Promise<Buffer> {
  const target = byHandle ? p.bytes() : p.path();
  const wanted = p.string().split(',');
  const offset = p.u64();
  const length = p.u64();
  const blockSize = p.u32();
  const alg = wanted.find((a): a is HashAlgorithm => (HASHES as string[]).includes(a));
  if (!alg)
    throw new ProtocolError(Status.OP_UNSUPPORTED, `no supported hash in ${wanted.join(',')}`);
  if (blockSize !== 0 && blockSize < 256)
    throw new ProtocolError(Status.FAILURE, 'block size must be 0 or >= 256');
  const file = typeof target === 'string' ? await s.fs.openRead(target) : s.handles.file(target);
  try {
    const size = (await s.fs.fstat(file)).size;
    const end = length === 0 ? size : Math.min(size, offset + length);
    const range = Math.max(0, end - offset);
    const blocks = blockSize === 0 ? 1 : Math.max(1, Math.ceil(range / blockSize));
    const max = maxCheckFileBlocks(alg);
    if (blocks > max) {
      throw new ProtocolError(
        Status.FAILURE,
        `too many blocks for one reply: ${blocks} blocks of ${alg} (at most ${max}); use a larger block size`,
      );
    }
    // the range as it is now: a file growing meanwhile cannot add blocks
    const digests = await s.fs.hash(file, alg, offset, range === 0 ? 0 : range, blockSize);
    if (digests.length > max)
      throw new ProtocolError(Status.FAILURE, 'too many blocks for one reply');
    return encode.extendedReply(id, (w) => {
      w.string('check-file').string(alg);
      for (const d of digests) for (const b of d) w.u8(b);
    });
  } finally {
    if (typeof target === 'string') await s.fs.close(file);
  }
}

async function statvfsReply(id: number, s: Session, path: string): Promise<Buffer> {
  const v = await s.fs.statvfs(path);
  return encode.extendedReply(id, (w) => {
    for (const n of [
      v.bsize,
      v.frsize,
      v.blocks,
      v.bfree,
      v.bavail,
      v.files,
      v.ffree,
      v.favail,
      v.fsid,
      v.flag,
      v.namemax,
    ]) {
      w.u64(n);
    }
  });
}

export const extensions: Record<string, Extension> = {
  'posix-rename@openssh.com': {
    version: '1',
    run: async (s, id, p) => {
      await s.fs.rename(p.path(), p.path(), true);
      return ok(id);
    },
  },
  'statvfs@openssh.com': { version: '2', run: (s, id, p) => statvfsReply(id, s, p.path()) },
  'fstatvfs@openssh.com': {
    version: '2',
    run: (s, id, p) => {
      const h = s.handles.get(p.bytes());
      return statvfsReply(id, s, h.kind === 'file' ? h.file.path : h.dir.path);
    },
  },
  'fsync@openssh.com': {
    version: '1',
    run: async (s, id, p) => {
      await s.fs.fsync(s.handles.file(p.bytes()));
      return ok(id);
    },
  },
  'limits@openssh.com': {
    version: '1',
    run: (s, id) =>
      encode.extendedReply(id, (w) =>
        w.u64(MAX_PACKET).u64(MAX_DATA).u64(MAX_DATA).u64(s.handles.max),
      ),
  },
  'expand-path@openssh.com': {
    version: '1',
    run: async (s, id, p) => {
      let path = p.path();
      // the home is "/": "~" and "~/x" expand there; "~user" only for the user's own name
      const m = /^~([^/]*)(\/.*)?$/.exec(path);
      if (m) {
        if (m[1] && m[1] !== s.user) throw new ProtocolError(Status.NO_SUCH_FILE, 'No such user');
        path = '/' + (m[2] ?? '');
      }
      return nameReply(id, await s.fs.realpath(path));
    },
  },
  'home-directory': {
    version: '1',
    run: (s, id, p) => {
      const user = p.string();
      if (user !== '' && user !== s.user)
        throw new ProtocolError(Status.NO_SUCH_FILE, 'No such user');
      return nameReply(id, '/');
    },
  },
  'copy-data': {
    version: '1',
    needs: 'copy',
    run: async (s, id, p) => {
      const src = s.handles.file(p.bytes());
      const srcOffset = p.u64();
      const length = p.u64();
      const dst = s.handles.file(p.bytes());
      const dstOffset = p.u64();
      await s.fs.copy(src, srcOffset, length, dst, dstOffset);
      return ok(id);
    },
  },
  'check-file-name': {
    version: HASHES.join(','),
    needs: 'hash',
    run: (s, id, p) => checkFile(s, id, p, false),
  },
  'check-file-handle': {
    version: HASHES.join(','),
    needs: 'hash',
    run: (s, id, p) => checkFile(s, id, p, true),
  },
};

/** The VERSION packet's extension list: exactly the table above. */
export const advertised: ReadonlyArray<readonly [string, string]> = Object.entries(extensions).map(
  ([name, e]) => [name, e.version] as const,
);

/** The extension list for one session: those whose capability the user's storage offers. */
export function advertisedFor(fs: Storage): ReadonlyArray<readonly [string, string]> {
  if (!fs.offers) return advertised;
  return advertised.filter(([name]) => {
    const cap = extensions[name]!.needs;
    return cap === undefined || fs.offers!(cap);
  });
}

/**
 * How a request is scheduled. Requests bound to one handle share its lane: READs may run side by
 * side, as may WRITEs to ranges that do not overlap (APPEND writes excepted); anything else on the
 * lane runs alone. Requests without a lane are barriers that run alone in the session.
 */
export interface Lane {
  lane: number;
  kind: 'read' | 'write' | 'other';
  start: number;
  end: number;
}

export function laneOf(s: Session, req: Request): Lane | null {
  switch (req.type) {
    case PacketType.READ:
      return { lane: HandleTable.key(req.handle), kind: 'read', start: 0, end: 0 };
    case PacketType.WRITE: {
      const lane = HandleTable.key(req.handle);
      const h = s.handles.peek(req.handle);
      if (h?.kind === 'file' && h.file.append) return { lane, kind: 'other', start: 0, end: 0 };
      return { lane, kind: 'write', start: req.offset, end: req.offset + req.data.length };
    }
    case PacketType.FSTAT:
    case PacketType.READDIR:
      return { lane: HandleTable.key(req.handle), kind: 'other', start: 0, end: 0 };
    default:
      return null;
  }
}

export function runExtension(s: Session, name: string, id: number, payload: Buffer): Reply {
  const ext = extensions[name];
  if (!ext) return encode.status(id, Status.OP_UNSUPPORTED, `unsupported extension ${name}`);
  return ext.run(s, id, new Reader(payload));
}

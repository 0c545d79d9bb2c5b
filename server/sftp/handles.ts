// Typed handles of one session: opaque 4-byte strings on the wire, bounded in number.
import { Status } from '../../common/wire.js';
import { ProtocolError } from './status.js';
import type { StoredDir, StoredFile } from '../fs/storage.js';

export type Handle = { kind: 'file'; file: StoredFile } | { kind: 'dir'; dir: StoredDir };

export class HandleTable {
  private readonly map = new Map<number, Handle>();
  private next = Math.floor(Math.random() * 0x7fffffff);

  constructor(readonly max: number) {}

  add(h: Handle): Buffer {
    if (this.map.size >= this.max) {
      throw new ProtocolError(Status.FAILURE, `too many open handles (limit ${this.max})`);
    }
    do this.next = (this.next + 1) >>> 0;
    while (this.map.has(this.next));
    this.map.set(this.next, h);
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(this.next, 0);
    return b;
  }

  /** The handle's number, or -1 when the bytes cannot be one of ours. */
  static key(handle: Buffer): number {
    return handle.length === 4 ? handle.readUInt32BE(0) : -1;
  }

  /** The handle, or undefined (for scheduling decisions, which must not fail). */
  peek(handle: Buffer): Handle | undefined {
    return this.map.get(HandleTable.key(handle));
  }

  get(handle: Buffer): Handle {
    const h = this.map.get(HandleTable.key(handle));
    if (!h) throw new ProtocolError(Status.FAILURE, 'invalid handle');
    return h;
  }

  file(handle: Buffer): StoredFile {
    const h = this.get(handle);
    if (h.kind !== 'file') throw new ProtocolError(Status.FAILURE, 'not a file handle');
    return h.file;
  }

  dir(handle: Buffer): StoredDir {
    const h = this.get(handle);
    if (h.kind !== 'dir') throw new ProtocolError(Status.FAILURE, 'not a directory handle');
    return h.dir;
  }

  remove(handle: Buffer): Handle {
    const h = this.get(handle);
    this.map.delete(HandleTable.key(handle));
    return h;
  }

  /** Takes every handle out of the table (session end). */
  drain(): Handle[] {
    const all = [...this.map.values()];
    this.map.clear();
    return all;
  }
}

// Splits the channel's byte stream into SFTP packets (uint32 length + body).
// A body that lies within one chunk is handed out as a view, without copying.
import { MAX_PACKET } from '../../common/wire.js';

export class FrameError extends Error {}

export class Framer {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Adds bytes and returns the complete packet bodies they finish. Throws FrameError on a bad length. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    if (this.buffered === 0) {
      // fast path: parse directly out of the new chunk
      let pos = 0;
      while (chunk.length - pos >= 4) {
        const len = chunk.readUInt32BE(pos);
        checkLength(len);
        if (chunk.length - pos - 4 < len) break;
        out.push(chunk.subarray(pos + 4, pos + 4 + len));
        pos += 4 + len;
      }
      if (pos < chunk.length) {
        this.chunks.push(chunk.subarray(pos));
        this.buffered = chunk.length - pos;
      }
      return out;
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.buffered < 4) break;
      const len = this.peekLength();
      checkLength(len);
      if (this.buffered - 4 < len) break;
      const whole = this.take(4 + len);
      out.push(whole.subarray(4));
      if (this.buffered > 0 && this.chunks.length === 1) {
        // the rest is one chunk: continue on the fast path
        const rest = this.chunks[0]!;
        this.chunks = [];
        this.buffered = 0;
        out.push(...this.push(rest));
        break;
      }
    }
    return out;
  }

  get pending(): number {
    return this.buffered;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= 4) return first.readUInt32BE(0);
    return this.take(4, true).readUInt32BE(0);
  }

  /** Removes n bytes from the front (or only looks at them with peek). */
  private take(n: number, peek = false): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) {
      if (!peek) {
        if (first.length === n) this.chunks.shift();
        else this.chunks[0] = first.subarray(n);
        this.buffered -= n;
      }
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let i = 0;
    while (filled < n) {
      const c = this.chunks[i]!;
      const k = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, k);
      filled += k;
      if (!peek) {
        if (k === c.length) {
          this.chunks.shift();
          continue;
        }
        this.chunks[0] = c.subarray(k);
      } else i++;
    }
    if (!peek) this.buffered -= n;
    return out;
  }
}

function checkLength(len: number): void {
  if (len === 0 || len > MAX_PACKET) throw new FrameError(`bad packet length ${len}`);
}

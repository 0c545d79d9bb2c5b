// The TCP socket under the SSH connection, read in large pieces of fresh memory.
//
// By default node reads a socket 64 KiB at a time, into a new 64 KiB buffer each time. Our SSH
// packets are up to 256 KiB (common/ssh-channel.ts), so every one of a download's packets then
// spans several reads, and ssh2 copies its pieces into a new buffer before decrypting it. Here each
// read may fill up to the rest of a 4 MiB slab: a packet that arrived whole is decrypted where it
// lies, and a busy download takes fewer, larger reads. Measured: ~0.1 s less user CPU per GiB
// downloaded (bench/README.md, "Where the time goes: our client").
//
// The memory of a read is never reused: ssh2 keeps views of what it received (a file handle is a
// slice of the OPEN reply; a channel's stream may buffer what it was given), as it does with node's
// own read buffers. A slab is freed by the GC once no view of it is left.
import { connect as tcpConnect, type Socket } from 'node:net';

/** Size of one slab of read memory. */
const SLAB = 4 << 20;
/** A read gets a new slab when less than this is left of the current one. */
const MIN_READ = 1 << 20;

export function connectTcp(host: string, port: number): Socket {
  let slab = Buffer.allocUnsafeSlow(SLAB);
  let used = 0;
  const next = (): Buffer => {
    if (SLAB - used < MIN_READ) {
      slab = Buffer.allocUnsafeSlow(SLAB);
      used = 0;
    }
    return slab.subarray(used);
  };
  // with onread, node hands each read to the callback instead of emitting 'data': emit it as a
  // stream would, for ssh2 (and remote.ts) that listen to 'data'
  const sock: Socket = tcpConnect({
    host,
    port,
    // Nagle off: with it on, uploads ran at a third of the speed
    noDelay: true,
    onread: {
      buffer: next,
      callback(n: number, buf: Uint8Array): boolean {
        // the next read starts after this one, cache-line aligned
        used += (n + 63) & ~63;
        sock.emit('data', Buffer.from(buf.buffer, buf.byteOffset, n));
        return true;
      },
    },
  });
  return sock;
}

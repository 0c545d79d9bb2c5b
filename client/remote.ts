// The server as the client sees it: promise wrappers over ssh2's SFTP object (the only file that
// touches it), the server's extensions, and the exec hash command.
import type { Socket } from 'node:net';
import type { Client, FileEntryWithStats, SFTPWrapper, Stats } from 'ssh2';
import { MAX_DATA, Status } from '../common/wire.js';
import { sftpStatus } from './errors.js';
import { shellQuote } from './paths.js';

/**
 * What ssh2's SFTP object learnt from the server but exposes in no public API: the extensions of
 * the VERSION packet and the lengths limits@openssh.com announced. Nothing else reads ssh2's
 * private fields.
 */
function negotiated(sftp: SFTPWrapper): {
  extensions: Record<string, string>;
  maxRead?: number;
  maxWrite?: number;
} {
  const i = sftp as unknown as {
    _extensions?: Record<string, string>;
    _maxReadLen?: number;
    _maxWriteLen?: number;
  };
  return { extensions: i._extensions ?? {}, maxRead: i._maxReadLen, maxWrite: i._maxWriteLen };
}

/** Bytes per READ/WRITE that every server accepts (the SFTP drafts' minimum packet is 32 KiB). */
const PORTABLE_DATA = 32768;

/** Completion of one READ: bytes read (0 at the end of the file). */
export type ReadCallback = (err: Error | undefined, bytesRead: number) => void;
export type WriteCallback = (err: Error | undefined) => void;

export interface DiskSpace {
  total: number;
  free: number;
}

export class Remote {
  private lostError: Error | undefined;
  private readonly lostListeners = new Set<(err: Error) => void>();

  /**
   * `sock` is the TCP socket the connection runs on (we open it and hand it to ssh2), used to cork
   * writes and to tell whether the server is on this machine.
   */
  constructor(
    private readonly sftp: SFTPWrapper,
    readonly ssh: Client,
    private readonly sock?: Socket,
  ) {
    // ssh2 leaves requests in flight unanswered when the connection drops: fail them ourselves,
    // with the reason ssh2 gave when it closed the channel itself (a malformed reply)
    let reason: string | undefined;
    sftp.on('error', (e: Error) => (reason ??= e.message));
    const lost = (): void => {
      if (this.lostError) return;
      this.lostError = new Error(reason ? `Connection lost: ${reason}` : 'Connection lost');
      for (const fn of [...this.lostListeners]) fn(this.lostError);
      this.lostListeners.clear();
    };
    sftp.on('close', lost);
    ssh.on('close', lost);
    // What ssh2 sends while it handles one piece of input (window adjusts, the requests our reply
    // callbacks issue, buffered requests a window adjust releases) leaves in one writev.
    if (sock) {
      sock.prependListener('data', () => sock.cork());
      sock.on('data', () => sock.uncork());
    }
  }

  /** Calls fn once if the connection drops; returns the function that cancels that. */
  onLost(fn: (err: Error) => void): () => void {
    if (this.lostError) {
      fn(this.lostError);
      return () => undefined;
    }
    this.lostListeners.add(fn);
    return () => this.lostListeners.delete(fn);
  }

  private call<T>(fn: (cb: (err: Error | null | undefined, v: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const off = this.onLost(reject);
      if (this.lostError) return;
      fn((err, v) => {
        off();
        if (err) reject(err);
        else resolve(v);
      });
    });
  }

  /**
   * Runs fn with the SSH socket corked: the packets of many requests then leave in one writev
   * instead of one write system call per 32 KiB SSH packet.
   */
  corked<T>(fn: () => T): T {
    const sock = this.sock;
    if (!sock) return fn();
    sock.cork();
    try {
      return fn();
    } finally {
      sock.uncork();
    }
  }

  /** true when the server runs on this machine (loopback), so that it shares our CPU cores */
  serverIsLocal(): boolean {
    const a = this.sock?.remoteAddress ?? '';
    return /^(127\.|::1$|::ffff:127\.)/.test(a);
  }

  extensions(): Record<string, string> {
    return negotiated(this.sftp).extensions;
  }

  hasExt(name: string): boolean {
    return name in this.extensions();
  }

  /** Bytes per READ/WRITE: 255 KiB when the server announces limits@openssh.com, else 32 KiB. */
  chunkSizes(): { read: number; write: number } {
    const n = negotiated(this.sftp);
    if (!('limits@openssh.com' in n.extensions))
      return { read: PORTABLE_DATA, write: PORTABLE_DATA };
    return {
      read: Math.min(n.maxRead ?? PORTABLE_DATA, MAX_DATA),
      write: Math.min(n.maxWrite ?? PORTABLE_DATA, MAX_DATA),
    };
  }

  realpath(p: string): Promise<string> {
    return this.call<string>((cb) => this.sftp.realpath(p, cb));
  }
  stat(p: string): Promise<Stats> {
    return this.call<Stats>((cb) => this.sftp.stat(p, cb));
  }
  lstat(p: string): Promise<Stats> {
    return this.call<Stats>((cb) => this.sftp.lstat(p, cb));
  }
  async statOrNull(p: string): Promise<Stats | null> {
    try {
      return await this.stat(p);
    } catch (err) {
      if (sftpStatus(err) === Status.NO_SUCH_FILE) return null;
      throw err;
    }
  }
  readdir(p: string): Promise<FileEntryWithStats[]> {
    return this.call<FileEntryWithStats[]>((cb) =>
      this.sftp.readdir(p, cb as (err: Error | undefined, list: FileEntryWithStats[]) => void),
    );
  }
  mkdir(p: string): Promise<void> {
    return this.call<void>((cb) => this.sftp.mkdir(p, (err) => cb(err, undefined)));
  }
  rmdir(p: string): Promise<void> {
    return this.call<void>((cb) => this.sftp.rmdir(p, (err) => cb(err, undefined)));
  }
  unlink(p: string): Promise<void> {
    return this.call<void>((cb) => this.sftp.unlink(p, (err) => cb(err, undefined)));
  }
  chmod(p: string, mode: number): Promise<void> {
    return this.call<void>((cb) => this.sftp.chmod(p, mode, (err) => cb(err, undefined)));
  }
  rename(from: string, to: string): Promise<void> {
    if (this.hasExt('posix-rename@openssh.com'))
      return this.call<void>((cb) =>
        this.sftp.ext_openssh_rename(from, to, (err) => cb(err, undefined)),
      );
    return this.call<void>((cb) => this.sftp.rename(from, to, (err) => cb(err, undefined)));
  }
  open(p: string, flags: number): Promise<Buffer> {
    return this.call<Buffer>((cb) => this.sftp.open(p, flags, cb));
  }
  close(h: Buffer): Promise<void> {
    return this.call<void>((cb) => this.sftp.close(h, (err) => cb(err, undefined)));
  }
  /**
   * One READ into buf[off, off+len) with a plain callback: the transfer pipeline keeps many in
   * flight and does its own bookkeeping (see onLost for a dropped connection).
   */
  read(h: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: ReadCallback): void {
    this.sftp.read(h, buf, off, len, pos, (err, n) => cb(err ?? undefined, n));
  }
  /** One WRITE of buf[off, off+len) at pos, as read(). */
  write(h: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: WriteCallback): void {
    this.sftp.write(h, buf, off, len, pos, (err) => cb(err ?? undefined));
  }

  /** Quota (or disk) size and free space, when the server offers statvfs@openssh.com. */
  async diskSpace(p: string): Promise<DiskSpace | null> {
    if (this.extensions()['statvfs@openssh.com'] !== '2') return null;
    const st = await this.call<{ f_frsize: number; f_blocks: number; f_bavail: number }>((cb) =>
      this.sftp.ext_openssh_statvfs(p, cb as never),
    );
    return { total: st.f_blocks * st.f_frsize, free: st.f_bavail * st.f_frsize };
  }

  /**
   * sha256 of a remote file through the server's `sha256sum PATH` exec command.
   * null when the server cannot tell (not a jailsftp server, command refused, no output).
   */
  remoteSha256(p: string, signal?: AbortSignal): Promise<string | null> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (v: string | null): void => {
        if (!settled) {
          settled = true;
          resolve(v);
        }
      };
      try {
        this.ssh.exec(`sha256sum ${shellQuote(p)}`, (err, ch) => {
          if (err) return done(null);
          let out = '';
          let code: number | null = null;
          const onAbort = (): void => {
            ch.close();
            done(null);
          };
          signal?.addEventListener('abort', onAbort, { once: true });
          ch.on('data', (d: Buffer) => {
            if (out.length < 4096) out += d.toString('latin1');
          });
          ch.stderr.on('data', () => undefined);
          ch.on('exit', (c: number | null) => (code = c));
          ch.on('close', () => {
            signal?.removeEventListener('abort', onAbort);
            const m = /^([0-9a-f]{64})\s/.exec(out);
            done(code === 0 && m ? m[1]! : null);
          });
          // a server that runs an SFTP subsystem for every exec (OpenSSH ForceCommand) ends at EOF
          ch.end();
        });
      } catch {
        done(null);
      }
    });
  }
}

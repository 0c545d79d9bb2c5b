// Promise wrappers over ssh2's SFTP object, the server's extensions, and the exec hash command.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Client, FileEntryWithStats, SFTPWrapper, Stats } from 'ssh2';
import { shellQuote } from './paths.js';

export const OPEN = { READ: 1, WRITE: 2, APPEND: 4, CREAT: 8, TRUNC: 0x10, EXCL: 0x20 } as const;

/** What ssh2 knows of the server but does not export in its types. */
interface ClientInternals {
  _sock?: {
    cork(): void;
    uncork(): void;
    on(ev: 'data', fn: () => void): unknown;
    prependListener(ev: 'data', fn: () => void): unknown;
    remoteAddress?: string;
  };
}

interface SftpInternals {
  _extensions?: Record<string, string>;
  _maxReadLen?: number;
  _maxWriteLen?: number;
}

export interface DiskSpace {
  total: number;
  free: number;
}

export class Remote {
  private lostError: Error | undefined;
  private readonly lostListeners = new Set<(err: Error) => void>();

  constructor(
    readonly sftp: SFTPWrapper,
    readonly ssh: Client,
  ) {
    // ssh2 leaves requests in flight unanswered when the connection drops: fail them ourselves
    const lost = (): void => {
      if (this.lostError) return;
      this.lostError = new Error('Connection lost');
      for (const fn of [...this.lostListeners]) fn(this.lostError);
      this.lostListeners.clear();
    };
    sftp.on('close', lost);
    ssh.on('close', lost);
    // What ssh2 sends while it handles one piece of input (window adjusts, the requests our reply
    // callbacks issue, buffered requests a window adjust releases) leaves in one writev.
    const sock = (ssh as unknown as ClientInternals)._sock;
    if (sock && typeof sock.cork === 'function' && typeof sock.prependListener === 'function') {
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
    const sock = (this.ssh as unknown as ClientInternals)._sock;
    if (!sock || typeof sock.cork !== 'function') return fn();
    sock.cork();
    try {
      return fn();
    } finally {
      sock.uncork();
    }
  }

  /** true when the server runs on this machine (loopback), so that it shares our CPU cores */
  serverIsLocal(): boolean {
    const a = (this.ssh as unknown as ClientInternals)._sock?.remoteAddress ?? '';
    return /^(127\.|::1$|::ffff:127\.)/.test(a);
  }

  extensions(): Record<string, string> {
    return (this.sftp as unknown as SftpInternals)._extensions ?? {};
  }

  hasExt(name: string): boolean {
    return name in this.extensions();
  }

  /** Bytes per READ/WRITE: 255 KiB when the server announces limits@openssh.com, else 32 KiB. */
  chunkSizes(): { read: number; write: number } {
    const i = this.sftp as unknown as SftpInternals;
    if (!this.hasExt('limits@openssh.com')) return { read: 32768, write: 32768 };
    return {
      read: Math.min(i._maxReadLen ?? 32768, 261120),
      write: Math.min(i._maxWriteLen ?? 32768, 261120),
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
      if ((err as { code?: unknown }).code === 2) return null;
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

/**
 * A sha256 hash fed with the first `length` bytes of a local file (all of it when length is
 * undefined): the caller may go on updating it with what follows (resumed transfers).
 */
export function hashLocalPrefix(
  path: string,
  length?: number,
  signal?: AbortSignal,
): Promise<Hash> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    if (length === 0) return resolve(h);
    const s = createReadStream(path, {
      start: 0,
      end: length === undefined ? undefined : length - 1,
      highWaterMark: 4 << 20,
      signal,
    });
    let got = 0;
    s.on('data', (d) => {
      got += (d as Buffer).length;
      h.update(d as Buffer);
    });
    s.on('error', reject);
    s.on('end', () =>
      length === undefined || got === length
        ? resolve(h)
        : reject(new Error(`${path}: shorter than ${length} bytes`)),
    );
  });
}

/** sha256 of the first `length` bytes of a local file (all of it when length is undefined). */
export async function localSha256(
  path: string,
  length?: number,
  signal?: AbortSignal,
): Promise<string> {
  return (await hashLocalPrefix(path, length, signal)).digest('hex');
}

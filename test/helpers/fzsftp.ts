// FileZilla's SFTP engine, the real `fzsftp` (Debian package filezilla), driven as FileZilla's UI
// drives it: one command line at a time on stdin, typed event lines on stdout (first byte = event
// type), host key and password questions answered, rate quota granted, and local file data passed
// through shared memory (fzsftp >= 3.49 never opens local files itself: it asks for buffers).
// Protocol read from FileZilla's src/engine/sftp/{event.h,input_parser.cpp,sftpcontrolsocket.cpp,
// filetransfer.cpp} and src/putty/{psftp.c,fzsftp.c,fzprintf.c,unix/uxsftp.c}.
import type { ChildProcess } from 'node:child_process';
import { closeSync, ftruncateSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { exited, spawnChild } from './proc.js';

/** The protocol version this driver speaks (fzsftp prints it first; FileZilla 3.63 in Debian 12). */
export const FZSFTP_PROTOCOL = 11;

/**
 * Event types: the first byte of each output line is '0' + the type (src/engine/sftp/event.h; the
 * ones not listed carry one line of detail: Recv/Send byte counts, Transfer progress, KEX, ciphers).
 */
export const Ev = {
  Reply: 0,
  Done: 1,
  Error: 2,
  Verbose: 3,
  Info: 4,
  Status: 5,
  Listentry: 8,
  AskHostkey: 9,
  AskHostkeyChanged: 10,
  AskHostkeyBetteralg: 11,
  AskPassword: 12,
  RequestPreamble: 14,
  RequestInstruction: 15,
  UsedQuotaRecv: 16,
  UsedQuotaSend: 17,
  Hostkey: 25,
  IoSize: 26,
  IoOpen: 27,
  IoNextbuf: 28,
  IoFinalize: 29,
} as const;

/** How many lines follow the type byte (SftpInputParser::lines). */
function linesOf(type: number): number {
  if (type === Ev.UsedQuotaRecv || type === Ev.UsedQuotaSend || type === Ev.IoSize) return 0;
  if (type >= Ev.AskHostkey && type <= Ev.AskHostkeyBetteralg) return 2;
  if (type === Ev.Listentry) return 3;
  return 1;
}

export interface FzEvent {
  type: number;
  text: string[];
}

export interface ListEntry {
  name: string;
  size: number;
  mtime: number;
  longname: string;
}

/** The outcome of one command: it ends with a Reply (success) or a Done line ("1" ok, else not). */
export interface FzResult {
  ok: boolean;
  /** Reply text, or the Done code ("1", "0", "-1") */
  reply: string;
  errors: string[];
  status: string[];
  info: string[];
  list: ListEntry[];
  /** true when fzsftp exited before it finished the command */
  exited: boolean;
  /** bytes of file data that passed through the shared buffers during this command */
  bytes: number;
  /** the offset the engine asked for when it opened the local file (resume) */
  openOffset?: number;
}

export interface FzOptions {
  /** HOME and PUTTYDIR (sshhostkeys, randomseed) of fzsftp, and where the shared memory file lives */
  dir: string;
  /** size of the one shared buffer (default 256 KiB) */
  bufferSize?: number;
  timeoutMs?: number;
}

export interface ConnectOptions {
  host: string;
  port: number;
  user: string;
  /** the host key fingerprints (SHA256:...) to trust; any other key is refused as FileZilla's user would */
  hostKeys: string[];
  keyFile?: string;
  password?: string;
}

export interface TransferOptions {
  /** `reput`/`reget`: continue at the remote size (upload) or the local size (download) */
  resume?: boolean;
  /** stop answering fzsftp's buffer requests once this many bytes passed (to interrupt it) */
  stallAfter?: number;
}

interface Pending {
  res: FzResult;
  done(r: FzResult): void;
}

interface Xfer {
  download: boolean;
  local: string;
  fd?: number;
  /** position in the local file of the next byte */
  pos: number;
  /** a buffer is handed out to fzsftp (download: to be filled) */
  lent: boolean;
  stallAfter?: number;
  onStall?: () => void;
}

const q = (s: string): string => `"${s.replaceAll('"', '""')}"`;

/** One fzsftp process. Start it with FzSftp.start(), then connect(), then commands. */
export class FzSftp {
  readonly events: FzEvent[] = [];
  stderr = '';
  hostKey = '';
  exitCode: number | null = null;
  private buf = Buffer.alloc(0);
  private pending: Pending | null = null;
  private xfer: Xfer | null = null;
  private password?: string;
  private hostKeys: string[] = [];
  private lastChallenge = '';
  private preamble = '';
  private instruction = '';
  private readonly shm: number;
  private shmOpen = true;
  private readonly shmPath: string;
  private readonly bufSize: number;
  private readonly timeoutMs: number;
  private banner!: (line: string) => void;
  private readonly exited: Promise<number | null>;

  private constructor(
    private readonly proc: ChildProcess,
    shm: number,
    shmPath: string,
    opts: FzOptions,
  ) {
    this.shm = shm;
    this.shmPath = shmPath;
    this.bufSize = opts.bufferSize ?? 256 * 1024;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    proc.stdout!.on('data', (d: Buffer) => this.onData(d));
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    proc.stdin!.on('error', () => {
      /* fzsftp gone: the exit handler reports it */
    });
    this.exited = exited(proc).then((code) => {
      this.exitCode = code;
      if (this.pending) this.finish(false, 'exit', true);
      return code;
    });
  }

  /** Spawns `fzsftp -v` (as FileZilla does) with the shared memory file as its fd 3. */
  static async start(opts: FzOptions): Promise<FzSftp> {
    const shmPath = join(
      opts.dir,
      `fzsftp-shm-${process.pid}-${Math.random().toString(36).slice(2)}`,
    );
    const shm = openSync(shmPath, 'w+', 0o600);
    ftruncateSync(shm, opts.bufferSize ?? 256 * 1024);
    const proc = spawnChild('fzsftp', ['-v'], {
      stdio: ['pipe', 'pipe', 'pipe', shm],
      env: { ...process.env, HOME: opts.dir, PUTTYDIR: join(opts.dir, '.putty') },
    });
    const fz = new FzSftp(proc, shm, shmPath, opts);
    const banner = await new Promise<string>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`fzsftp did not start: ${fz.stderr}`)), 10_000);
      fz.banner = (l) => {
        clearTimeout(t);
        res(l);
      };
      proc.on('error', (e) => {
        clearTimeout(t);
        rej(e);
      });
    });
    if (banner !== `fzSftp started, protocol_version=${FZSFTP_PROTOCOL}`) {
      await fz.kill();
      throw new Error(`unexpected fzsftp banner: ${banner}`);
    }
    return fz;
  }

  /** Every line of the given event types, in order (e.g. all errors fzsftp reported). */
  texts(...types: number[]): string[] {
    return this.events.filter((e) => types.includes(e.type)).map((e) => e.text.join(' '));
  }

  /** keyfile (if any), then open "user@host" port, answering host key and password questions. */
  async connect(c: ConnectOptions): Promise<FzResult> {
    this.hostKeys = c.hostKeys;
    this.password = c.password;
    if (c.keyFile) {
      const k = await this.command(`keyfile ${q(c.keyFile)}`);
      if (!k.ok) return k;
    }
    return this.command(`open ${q(`${c.user}@${c.host}`)} ${c.port}`);
  }

  /** Sends one command line and resolves when fzsftp finishes it (Reply or Done). */
  command(line: string): Promise<FzResult> {
    return this.send(line, null);
  }

  private send(line: string, xfer: Xfer | null): Promise<FzResult> {
    if (this.pending) throw new Error('fzsftp: one command at a time');
    if (line.includes('\n') || line.includes('\r')) throw new Error('newline in command');
    const res: FzResult = {
      ...{ ok: false, reply: '', exited: false, bytes: 0 },
      ...{ errors: [], status: [], info: [], list: [] },
    };
    this.xfer = xfer;
    return new Promise<FzResult>((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending = null;
        reject(
          new Error(`fzsftp: no answer to ${line} within ${this.timeoutMs} ms\n${this.log()}`),
        );
      }, this.timeoutMs);
      this.pending = {
        res,
        done: (r) => {
          clearTimeout(t);
          resolve(r);
        },
      };
      if (this.exitCode !== null) this.finish(false, 'exit', true);
      else this.write(line);
    });
  }

  ls(dir = '.'): Promise<FzResult> {
    return this.command(`ls ${q(dir)}`);
  }

  /** put/reput: fzsftp reads the local file through the shared buffer, from the offset it asks. */
  put(local: string, remote: string, o: TransferOptions = {}): Promise<FzResult> & Stall {
    return this.transfer(`${o.resume ? 're' : ''}put ${q(local)} ${q(remote)}`, false, local, o);
  }

  /** get/reget: fzsftp fills the shared buffer, the driver writes it to the local file. */
  get(remote: string, local: string, o: TransferOptions = {}): Promise<FzResult> & Stall {
    return this.transfer(`${o.resume ? 're' : ''}get ${q(remote)} ${q(local)}`, true, local, o);
  }

  private transfer(
    cmd: string,
    download: boolean,
    local: string,
    o: TransferOptions,
  ): Promise<FzResult> & Stall {
    const x: Xfer = { download, local, pos: 0, lent: false, stallAfter: o.stallAfter };
    const stalled = new Promise<void>((res) => (x.onStall = res));
    const p = this.send(cmd, x).finally(() => this.closeLocal(x));
    return Object.assign(p, { stalled });
  }

  /** SIGKILL (a lost connection, as when FileZilla dies) and wait for the exit. */
  async kill(): Promise<void> {
    if (this.exitCode === null) this.proc.kill('SIGKILL');
    await this.exited;
    this.cleanup();
  }

  /** `quit`, then wait for fzsftp to exit. */
  async quit(): Promise<number | null> {
    if (this.exitCode === null) {
      this.write('quit');
      // standard input stays open until fzsftp has exited: an EOF it reads while it still waits
      // for a reply ("read_input_line failed in priority_read") makes it exit 1 after a good quit
      const timer = setTimeout(() => this.proc.stdin!.end(), 10000);
      await this.exited;
      clearTimeout(timer);
    }
    const code = await this.exited;
    this.cleanup();
    return code;
  }

  /** The transcript: what fzsftp printed, one event per line, for failure messages. */
  log(): string {
    return (
      this.events.map((e) => `${e.type}: ${e.text.join(' | ')}`).join('\n') + '\n' + this.stderr
    );
  }

  private cleanup(): void {
    if (this.xfer) this.closeLocal(this.xfer);
    if (this.shmOpen) closeSync(this.shm); // once: the number may be reused afterwards
    this.shmOpen = false;
    rmSync(this.shmPath, { force: true });
  }

  private write(line: string): void {
    if (this.exitCode === null && this.proc.stdin!.writable) this.proc.stdin!.write(line + '\n');
  }

  private finish(ok: boolean, reply: string, exited = false): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    p.done({ ...p.res, ok, reply, exited });
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.buf.length === 0) return;
      const type = this.buf[0]! - 0x30;
      const want = linesOf(type);
      const text: string[] = [];
      let at = 1;
      for (let i = 0; i < want; i++) {
        const nl = this.buf.indexOf(0x0a, at);
        if (nl < 0) return; // wait for the rest of the event
        text.push(this.buf.toString('utf8', at, nl).replace(/\r$/, ''));
        at = nl + 1;
      }
      this.buf = this.buf.subarray(at);
      this.onEvent({ type, text });
    }
  }

  private onEvent(e: FzEvent): void {
    this.events.push(e);
    const r = this.pending?.res;
    const t0 = e.text[0] ?? '';
    switch (e.type) {
      case Ev.Reply:
        if (t0.startsWith('fzSftp started')) this.banner?.(t0);
        else this.finish(true, t0);
        break;
      case Ev.Done:
        this.finish(t0 === '1', t0);
        break;
      case Ev.Error:
      case Ev.Status:
      case Ev.Info:
        r?.[e.type === Ev.Error ? 'errors' : e.type === Ev.Status ? 'status' : 'info'].push(t0);
        break;
      case Ev.Listentry:
        r?.list.push({
          longname: t0,
          mtime: Number(e.text[1]),
          name: e.text[2]!,
          size: Number(t0.trim().split(/\s+/)[4]),
        });
        break;
      case Ev.Hostkey:
        this.hostKey = t0.split(' ').pop()!;
        break;
      case Ev.AskHostkey:
      case Ev.AskHostkeyChanged:
        // "n": trust once (FileZilla's "OK" without "always trust"); "": refuse
        this.write(this.hostKeys.includes(this.hostKey) ? 'n' : '');
        break;
      case Ev.AskHostkeyBetteralg:
        this.proc.kill('SIGKILL'); // FileZilla aborts the connection here
        break;
      case Ev.RequestPreamble:
        this.preamble = t0;
        break;
      case Ev.RequestInstruction:
        this.instruction = t0;
        break;
      case Ev.AskPassword: {
        // FileZilla (logon type normal) sends the stored password once; the same challenge again
        // means it failed: "Authentication failed." and the connection is closed.
        const challenge = `${this.preamble}\n${this.instruction}\n${t0}`;
        if (this.password === undefined || challenge === this.lastChallenge) {
          r?.errors.push('Authentication failed.');
          this.proc.kill('SIGKILL');
        } else {
          this.lastChallenge = challenge;
          this.write(this.password);
        }
        break;
      }
      case Ev.UsedQuotaRecv:
        this.write('-0-'); // no speed limit in either direction
        break;
      case Ev.UsedQuotaSend:
        this.write('-1-');
        break;
      case Ev.IoOpen:
        this.ioOpen(BigInt(t0));
        break;
      case Ev.IoNextbuf:
        this.ioNextbuf(Number(t0));
        break;
      case Ev.IoFinalize:
        this.ioFinalize(Number(t0));
        break;
      case Ev.IoSize:
        this.write(this.xfer?.fd !== undefined ? `-${statSync(this.xfer.local).size}` : '--1');
        break;
    }
  }

  /**
   * Upload: open the local file for reading at the offset fzsftp asks ("reput" after its FSTAT).
   * Download: create the local file, or with resume (offset 2^64-1) continue at its size.
   * Reply "-FD SIZE OFFSET": fd of the shared memory in fzsftp, its size, the start offset.
   */
  private ioOpen(offset: bigint): void {
    const x = this.xfer;
    if (!x || x.fd !== undefined) {
      this.write(x ? '-0' : '--');
      return;
    }
    try {
      if (x.download) {
        const resume = offset === 2n ** 64n - 1n;
        x.fd = openSync(x.local, resume ? 'r+' : 'w');
        x.pos = resume ? statSync(x.local).size : 0;
      } else {
        x.fd = openSync(x.local, 'r');
        x.pos = Number(offset);
      }
    } catch {
      this.write('--');
      return;
    }
    if (this.pending) this.pending.res.openOffset = x.pos;
    this.write(`-3 ${this.bufSize} ${x.pos}`);
  }

  private ioNextbuf(processed: number): void {
    const x = this.xfer;
    if (!x || x.fd === undefined) {
      this.write('--1');
      return;
    }
    if (x.download && x.lent) this.flush(x, processed);
    if (x.stallAfter !== undefined && (this.pending?.res.bytes ?? 0) >= x.stallAfter) {
      // fzsftp now waits on stdin for its buffer
      x.onStall?.();
      return;
    }
    if (x.download) {
      x.lent = true;
      this.write(`-0 ${this.bufSize}`);
      return;
    }
    const b = Buffer.alloc(this.bufSize);
    const n = readSync(x.fd, b, 0, b.length, x.pos);
    if (n === 0) {
      this.write('-0'); // end of file
      return;
    }
    writeSync(this.shm, b, 0, n, 0);
    x.pos += n;
    if (this.pending) this.pending.res.bytes += n;
    this.write(`-0 ${n}`);
  }

  private ioFinalize(lastWrite: number): void {
    const x = this.xfer;
    if (!x || x.fd === undefined || !x.download) {
      this.write('-0');
      return;
    }
    if (x.lent) this.flush(x, lastWrite);
    this.write('-1');
  }

  /** Download: the lent buffer holds `n` bytes; write them to the local file. */
  private flush(x: Xfer, n: number): void {
    x.lent = false;
    if (n <= 0) return;
    const b = Buffer.alloc(n);
    readSync(this.shm, b, 0, n, 0);
    writeSync(x.fd!, b, 0, n, x.pos);
    x.pos += n;
    if (this.pending) this.pending.res.bytes += n;
  }

  private closeLocal(x: Xfer): void {
    if (x.fd !== undefined) closeSync(x.fd);
    x.fd = undefined;
  }
}

export interface Stall {
  /** resolves when the driver stopped answering buffer requests (TransferOptions.stallAfter) */
  stalled: Promise<void>;
}

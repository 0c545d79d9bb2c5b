// The SFTP engine of one session: reads packets from the raw channel, runs them through the handler
// table and writes the replies back in request order.
//
// Ordering: requests on one handle share a lane (see laneOf): READs run side by side, WRITEs to
// ranges that do not overlap run side by side, anything else on the lane runs alone, and a lane is
// first-in first-out. Different handles run side by side. Every other request is a barrier that
// waits for all earlier requests and holds back later ones. The results are those of sequential
// execution, while a stream of WRITEs or READs keeps several disk operations in flight.
//
// Bounds: at most MAX_PENDING requests are decoded and not yet answered; beyond that, or while the
// channel holds OUTPUT_LIMIT bytes of replies the client has not taken, the engine stops reading,
// so SSH flow control stops the client.
// Memory per session is therefore bounded whatever the client sends.
//
// Failures: a request that throws or rejects gets its status reply (status.ts). Every entry from
// outside (channel events, request completions) runs guarded: a bug in the engine itself is
// reported through onBug and ends this session only, and its handles are still closed.
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { decodeRequest, encode, type Request } from './codec.js';
import { PacketType, Status } from '../../common/wire.js';
import { Framer } from './framer.js';
import {
  advertisedFor,
  closeHandle,
  handlers,
  laneOf,
  runExtension,
  type Lane,
  type Reply,
  type Session,
} from './handlers.js';
import { statusFromError } from './status.js';

const MAX_PENDING = 64;
/** bytes of replies buffered in the channel before the engine stops reading requests */
const OUTPUT_LIMIT = 8 * 1024 * 1024;
/** disk operations in flight on one handle */
const MAX_PER_LANE = 16;
/**
 * Replies up to this size that are ready together leave as one channel write (one SSH packet, one
 * encryption, one socket write), up to COALESCE_BYTES at a time, as sftp-server's output buffer
 * and sshd do; larger replies (READ data) are written on their own, without a copy.
 */
const COALESCE_MAX = 16 * 1024;
const COALESCE_BYTES = 64 * 1024;

interface Job {
  req: Request;
  lane: Lane | null;
  reply?: Buffer;
  /** performance.now() when it started, for onRequest */
  started?: number;
}

interface LaneState {
  kind: Lane['kind'];
  running: Job[];
}

export interface EngineEvents {
  /** a protocol violation that ends the session (logged by the caller) */
  onProtocolError?(reason: string): void;
  /** called once when the session is over and every handle is closed */
  onClosed?(): void;
  /** a bug in the engine (an exception outside any request); the session ends */
  onBug?(error: unknown): void;
  /** each answered request: its operation (`read`, `open`, an extension's name), status, time */
  onRequest?(op: string, status: string, seconds: number): void;
}

/** The operation's name for metrics: the packet type, or the extension's name. */
function opName(req: Request): string {
  if (req.type === PacketType.EXTENDED) return req.name || 'extended';
  return PacketType[req.type]?.toLowerCase() ?? 'unknown';
}

/** `ok` for a reply that carries data, else the status code's name (`eof`, `no_such_file`, ...). */
function statusName(reply: Buffer): string {
  if (reply[4] !== PacketType.STATUS || reply.length < 13) return 'ok';
  return Status[reply.readUInt32BE(9)]?.toLowerCase() ?? 'unknown';
}

export class SftpEngine {
  private readonly framer = new Framer();
  private frames: Buffer[] = [];
  private initialized = false;
  /** decoded, not started */
  private queue: Job[] = [];
  /** started or finished, not yet written, in request order */
  private replies: Job[] = [];
  private running = 0;
  private barrierRunning = false;
  private lanes = new Map<number, LaneState>();
  private paused = false;
  private ended = false;
  /** a flush is queued for the end of this tick (scheduleFlush) */
  private flushQueued = false;
  private closed = false;

  constructor(
    private readonly channel: Duplex,
    private readonly session: Session,
    private readonly events: EngineEvents = {},
  ) {
    channel.on('data', (chunk: Buffer) => this.guard(() => this.onData(chunk)));
    channel.on('drain', () => this.guard(() => this.pump()));
    channel.on('end', () =>
      this.guard(() => {
        this.ended = true;
        this.maybeFinish();
      }),
    );
    channel.on('close', () => this.guard(() => this.abort()));
    // the owner of the channel logs its errors; the engine only must not let one escape
    channel.on('error', () => undefined);
  }

  /** Runs an entry point; an exception in it is a bug: report it and end this session. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.events.onBug?.(e);
      if (this.closed) return;
      this.ended = true;
      this.queue = [];
      this.frames = [];
      try {
        this.channel.end();
        this.maybeFinish();
      } catch (e2) {
        this.events.onBug?.(e2);
      }
    }
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    let bodies: Buffer[];
    try {
      bodies = this.framer.push(chunk);
    } catch (e) {
      this.fatal((e as Error).message);
      return;
    }
    for (const b of bodies) this.frames.push(b);
    this.pump();
  }

  /** Decodes frames while there is room, starts what may start, schedules the finished replies' write. */
  private pump(): void {
    if (this.closed) return;
    while (this.frames.length > 0 && this.replies.length < MAX_PENDING && !this.outputFull()) {
      const body = this.frames.shift()!;
      if (!this.initialized) {
        if (body[0] !== PacketType.INIT || body.length < 5) {
          this.fatal('first packet is not INIT');
          return;
        }
        this.initialized = true;
        this.send(encode.version(advertisedFor(this.session.fs)));
        continue;
      }
      const d = decodeRequest(body);
      if (!d.ok) {
        if (d.id === undefined) {
          this.fatal(d.reason);
          return;
        }
        // answer the malformed request in its turn, as a barrier with a ready reply
        const job: Job = {
          req: { type: PacketType.EXTENDED, id: d.id, name: '', payload: body },
          lane: null,
          reply: encode.status(d.id, Status.BAD_MESSAGE, d.reason),
        };
        this.replies.push(job);
        continue;
      }
      const job: Job = { req: d.value, lane: laneOf(this.session, d.value) };
      this.replies.push(job);
      this.queue.push(job);
    }
    this.startJobs();
    this.scheduleFlush();
    this.flowControl();
  }

  private startJobs(): void {
    if (this.barrierRunning) return;
    const held = new Set<number>(); // lanes with an earlier job still waiting
    let i = 0;
    while (i < this.queue.length) {
      const job = this.queue[i]!;
      const lane = job.lane;
      if (lane === null) {
        if (i === 0 && this.running === 0) {
          this.queue.shift();
          this.barrierRunning = true;
          this.run(job);
        }
        return; // nothing after a barrier may start before it
      }
      if (!held.has(lane.lane) && this.laneAdmits(lane)) {
        this.queue.splice(i, 1);
        const st = this.lanes.get(lane.lane);
        if (st) st.running.push(job);
        else this.lanes.set(lane.lane, { kind: lane.kind, running: [job] });
        this.run(job);
        if (this.barrierRunning) return;
        continue;
      }
      held.add(lane.lane);
      i++;
    }
  }

  private laneAdmits(l: Lane): boolean {
    const st = this.lanes.get(l.lane);
    if (!st) return true;
    if (st.running.length >= MAX_PER_LANE || l.kind !== st.kind || l.kind === 'other') return false;
    if (l.kind === 'read') return true;
    return st.running.every((j) => j.lane!.end <= l.start || j.lane!.start >= l.end);
  }

  private run(job: Job): void {
    this.running++;
    if (this.events.onRequest) job.started = performance.now();
    let r: Reply;
    try {
      r = this.dispatch(job.req);
    } catch (e) {
      this.done(job, this.errorReply(job.req.id, e));
      return;
    }
    if (Buffer.isBuffer(r)) this.done(job, r);
    else
      r.then(
        (buf) => this.guard(() => this.done(job, buf)),
        (e: unknown) => this.guard(() => this.done(job, this.errorReply(job.req.id, e))),
      );
  }

  private dispatch(req: Request): Reply {
    if (req.type === PacketType.EXTENDED)
      return runExtension(this.session, req.name, req.id, req.payload);
    const h = handlers[req.type] as ((s: Session, r: Request) => Reply) | undefined;
    if (!h) return encode.status(req.id, Status.OP_UNSUPPORTED, 'Operation unsupported');
    return h(this.session, req);
  }

  private errorReply(id: number, e: unknown): Buffer {
    const s = statusFromError(e);
    return encode.status(id, s.code, s.message);
  }

  private done(job: Job, reply: Buffer): void {
    job.reply = reply;
    this.running--;
    if (job.started !== undefined)
      this.events.onRequest?.(
        opName(job.req),
        statusName(reply),
        (performance.now() - job.started) / 1000,
      );
    if (job.lane === null) this.barrierRunning = false;
    else {
      const st = this.lanes.get(job.lane.lane)!;
      st.running.splice(st.running.indexOf(job), 1);
      if (st.running.length === 0) this.lanes.delete(job.lane.lane);
    }
    if (this.closed) return;
    this.startJobs();
    this.scheduleFlush();
    this.flowControl();
    this.maybeFinish();
    if (this.frames.length > 0) this.pump();
  }

  /**
   * Writes finished replies once the current tick's work is done: every request that completes in
   * the same turn of the event loop (a burst decoded from one read, WRITEs joined into one pwritev)
   * then goes out in one write.
   */
  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    process.nextTick(() =>
      this.guard(() => {
        if (this.closed) return;
        this.flush();
        // the replies written make room: decode what waits, or let the channel flow again
        if (this.frames.length > 0) this.pump();
        else this.flowControl();
      }),
    );
  }

  /** Writes finished replies in request order, small ones joined (COALESCE_MAX). */
  private flush(): void {
    this.flushQueued = false;
    let batch: Buffer[] = [];
    let size = 0;
    const sendBatch = (): void => {
      if (batch.length === 1) this.send(batch[0]!);
      else if (batch.length > 1) this.send(Buffer.concat(batch, size));
      batch = [];
      size = 0;
    };
    while (this.replies.length > 0 && this.replies[0]!.reply) {
      const reply = this.replies.shift()!.reply!;
      if (reply.length > COALESCE_MAX) {
        sendBatch();
        this.send(reply);
        continue;
      }
      batch.push(reply);
      size += reply.length;
      if (size >= COALESCE_BYTES) sendBatch();
    }
    sendBatch();
  }

  private send(buf: Buffer): void {
    if (this.ended && !this.channel.writable) return;
    this.channel.write(buf);
  }

  /**
   * Replies the channel holds but the client's window has not taken yet. Up to OUTPUT_LIMIT the
   * engine keeps working, so that the window never waits for a disk read; beyond it, it waits
   * for 'drain'.
   */
  private outputFull(): boolean {
    return this.channel.writableLength >= OUTPUT_LIMIT;
  }

  private flowControl(): void {
    const full =
      this.replies.length >= MAX_PENDING || this.outputFull() || this.frames.length > MAX_PENDING;
    if (full && !this.paused) {
      this.paused = true;
      this.channel.pause();
    } else if (!full && this.paused) {
      this.paused = false;
      this.channel.resume();
    }
  }

  /**
   * The connection is gone: drop what was not started, and close every handle once the running
   * requests are done. (A paused channel never emits 'close' by itself, so the SSH layer calls this.)
   */
  abort(): void {
    this.ended = true;
    this.queue = [];
    this.frames = [];
    this.maybeFinish();
  }

  private fatal(reason: string): void {
    this.events.onProtocolError?.(reason);
    this.ended = true;
    this.queue = [];
    this.frames = [];
    this.flush();
    this.channel.end();
    this.maybeFinish();
  }

  /** When the client is gone and nothing runs, close every handle (data stays on disk). */
  private maybeFinish(): void {
    if (
      this.closed ||
      !this.ended ||
      this.running > 0 ||
      this.queue.length > 0 ||
      this.frames.length > 0
    )
      return;
    this.closed = true;
    const all = this.session.handles.drain();
    void Promise.allSettled(all.map(async (h) => closeHandle(this.session, h)))
      .then(() => {
        this.flush();
        if (this.channel.writable) this.channel.end();
      })
      .finally(() => this.events.onClosed?.())
      .catch((e: unknown) => this.events.onBug?.(e));
  }
}

// Upload hooks (issue 13): after each completed upload, remove or rename, a configured command
// (an argv array, no shell) runs with the event in JAILSFTP_* variables, or a webhook receives it as
// JSON by POST. Hooks run outside the transfer path: events wait in a bounded queue (what does not
// fit is dropped, counted and logged), a few run at once, and a failing or slow hook is logged
// (hook.failed, hook.timeout) and killed, never blocking or failing a transfer.
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { AuditEvent, EventPlace } from '../account/events.js';
import type { HooksConfig } from '../config.js';
import { log } from '../log.js';

export type HookEventName = 'upload' | 'remove' | 'rename';

/** What a hook is told, as JSON to a webhook (and as JAILSFTP_* variables to a command). */
export interface HookPayload {
  event: HookEventName;
  user: string;
  /** the path as the user sees it */
  path: string;
  /** the real path on disk */
  file: string;
  /** rename: the new name as the user sees it, and its real path */
  target?: string;
  targetFile?: string;
  /** upload: the file's size after it */
  size?: number;
  /** upload: when the server computed it (the file written whole from offset 0) */
  sha256?: string;
  addr: string;
  time: string;
}

interface Job {
  payload: HookPayload;
  argv: string[];
  url: string;
}

/** Seconds between webhook attempts: 0.5, 1, 2, … at most 10. */
function backoff(attempt: number): number {
  return Math.min(10, 0.5 * 2 ** attempt);
}

/** The real path of a user's path: normalised at the home's root, so it cannot leave the home. */
export function realPath(home: string, userPath: string): string {
  const p = posix.normalize('/' + userPath);
  return p === '/' ? home : posix.join(home, p);
}

/** The server's environment without its own JAILSFTP_* variables (JAILSFTP_STORE may hold a
 *  database password): a hook sees only the JAILSFTP_* variables of its event. */
function inherited(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('JAILSFTP_')) env[k] = v;
  return env;
}

function isHookEvent(e: AuditEvent['event']): e is HookEventName {
  return e === 'upload' || e === 'remove' || e === 'rename';
}

export class Hooks {
  private readonly waiting: Job[] = [];
  private running = 0;
  private dropped = 0;
  private readonly killers = new Set<() => void>();
  private stopped = false;
  /** aborts the webhook requests in flight at shutdown */
  private readonly stopping = new AbortController();

  constructor(private cfg: HooksConfig) {}

  /** SIGHUP: new commands, URLs and limits for the hook runs queued from now on. */
  configure(cfg: HooksConfig): void {
    this.cfg = cfg;
    this.pump();
  }

  /** Whether an upload hook (command or webhook) is configured: it is given the upload's sha256. */
  get onUpload(): boolean {
    return this.cfg.upload.length > 0 || this.cfg.uploadUrl !== '';
  }

  /** Hook runs dropped because the queue was full, since start. */
  get droppedRuns(): number {
    return this.dropped;
  }

  /** An account event: queues the hooks configured for it when it is a completed change. */
  event(e: AuditEvent, at: EventPlace | undefined): void {
    if (this.stopped || e.status !== 'ok' || !at || !isHookEvent(e.event)) return;
    if (e.path === undefined || e.user === undefined) return;
    const argv = this.cfg[e.event];
    const url = this.cfg[`${e.event}Url`];
    if (argv.length === 0 && !url) return;
    if (this.waiting.length >= this.cfg.queue) {
      this.dropped++;
      log('hook.dropped', { event: e.event, user: e.user, path: e.path, total: this.dropped });
      return;
    }
    const payload: HookPayload = {
      event: e.event,
      user: e.user,
      path: e.path,
      file: realPath(at.home, e.path),
      addr: e.addr ?? '',
      time: new Date().toISOString(),
    };
    if (e.target !== undefined) {
      payload.target = e.target;
      payload.targetFile = realPath(at.home, e.target);
    }
    if (e.event === 'upload') {
      payload.size = (e.offset ?? 0) + (e.bytes ?? 0);
      if (e.sha256) payload.sha256 = e.sha256;
    }
    this.waiting.push({ payload, argv: [...argv], url });
    this.pump();
  }

  /** Server shutdown: queued runs are dropped, running commands killed. */
  stop(): void {
    this.stopped = true;
    this.waiting.length = 0;
    for (const kill of this.killers) kill();
    this.stopping.abort();
  }

  private pump(): void {
    while (this.running < Math.max(1, this.cfg.concurrency) && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.running++;
      void this.run(job).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async run(job: Job): Promise<void> {
    // the size on disk now (a resumed upload), when the file is still there; an upload with a
    // sha256 was written whole from 0: its size is what the hash covers, whatever came after
    if (job.payload.event === 'upload' && job.payload.sha256 === undefined)
      try {
        job.payload.size = (await stat(job.payload.file)).size;
      } catch {
        // gone already: the size the transfer reached
      }
    const timeout = this.cfg.timeout;
    const retries = this.cfg.retries;
    const tasks: Promise<void>[] = [];
    if (job.argv.length > 0) tasks.push(this.command(job.argv, job.payload, timeout));
    if (job.url) tasks.push(this.webhook(job.url, job.payload, timeout, retries));
    await Promise.all(tasks);
  }

  private fields(p: HookPayload): Record<string, unknown> {
    return { event: p.event, user: p.user, path: p.path };
  }

  /** Runs a command with the event in its environment; killed (its process group) at the timeout. */
  private command(argv: string[], p: HookPayload, timeout: number): Promise<void> {
    const env: NodeJS.ProcessEnv = {
      ...inherited(),
      JAILSFTP_EVENT: p.event,
      JAILSFTP_USER: p.user,
      JAILSFTP_PATH: p.path,
      JAILSFTP_FILE: p.file,
      JAILSFTP_ADDR: p.addr,
    };
    if (p.size !== undefined) env.JAILSFTP_SIZE = String(p.size);
    if (p.sha256) env.JAILSFTP_SHA256 = p.sha256;
    if (p.target !== undefined) env.JAILSFTP_TARGET = p.target;
    if (p.targetFile !== undefined) env.JAILSFTP_TARGET_FILE = p.targetFile;
    const started = Date.now();
    return new Promise<void>((resolve) => {
      let stderr = '';
      let timedOut = false;
      let done = false;
      const child = spawn(argv[0]!, argv.slice(1), {
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
        // its own process group: a timeout kills what it started too (sh -c "sleep 60")
        detached: true,
      });
      const kill = (): void => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      const finish = (fields: Record<string, unknown> | null, event = 'hook.failed'): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.killers.delete(kill);
        if (fields) log(event, { ...this.fields(p), command: argv[0], ...fields });
        resolve();
      };
      this.killers.add(kill);
      const timer = setTimeout(() => {
        timedOut = true;
        kill();
      }, timeout * 1000);
      timer.unref();
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (d: string) => {
        if (stderr.length < 2000) stderr += d;
      });
      child.on('error', (err) => finish({ error: err.message }));
      child.on('close', (code, signal) => {
        const ms = Date.now() - started;
        if (timedOut) finish({ seconds: timeout, ms }, 'hook.timeout');
        else if (code === 0) finish(null);
        else
          finish({
            exit: code ?? signal,
            ms,
            ...(stderr.trim() ? { stderr: stderr.trim().slice(0, 500) } : {}),
          });
      });
    });
  }

  /** POSTs the event as JSON; a failure (an error, an answer other than 2xx) is retried. */
  private async webhook(url: string, p: HookPayload, timeout: number, retries: number) {
    let last = '';
    let timedOut = false;
    for (let attempt = 0; attempt <= retries && !this.stopped; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, backoff(attempt - 1) * 1000).unref());
      if (this.stopped) break;
      try {
        const r = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(p),
          signal: AbortSignal.any([AbortSignal.timeout(timeout * 1000), this.stopping.signal]),
        });
        await r.body?.cancel();
        if (r.ok) return;
        last = `HTTP ${r.status}`;
        timedOut = false;
      } catch (e) {
        timedOut = (e as Error).name === 'TimeoutError';
        last = (e as Error).message;
      }
    }
    log(timedOut ? 'hook.timeout' : 'hook.failed', {
      ...this.fields(p),
      url,
      attempts: retries + 1,
      error: last,
    });
  }
}

// Progress of one transfer: a redrawing cli-progress bar on a terminal, otherwise nothing until the
// final summary line. cli-progress is loaded with the first bar (batch runs without a terminal
// never draw one).
import type cliProgress from 'cli-progress';
import { createRequire } from 'node:module';
import { humanDuration, humanSize } from '../common/format.js';
import { escapeForTerminal } from './safe-names.js';

const require = createRequire(import.meta.url);

export class Progress {
  private bar: cliProgress.SingleBar | undefined;
  private readonly t0 = Date.now();
  private last = 0;
  private samples: { t: number; v: number }[] = [];

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly start: number,
    tty: boolean,
  ) {
    if (!tty) return;
    const { SingleBar } = require('cli-progress') as typeof cliProgress;
    this.bar = new SingleBar({
      // the label holds a file name: it must not drive the terminal
      format: `${escapeForTerminal(label)} |{bar}| {percentage}% | {done}/{size} | {speed} | ETA {eta_h}`,
      barCompleteChar: '\u2588',
      barIncompleteChar: '\u2591',
      barsize: 24,
      hideCursor: true,
      clearOnComplete: true,
      stopOnComplete: false,
      fps: 8,
      stream: process.stdout,
    });
    this.bar.start(Math.max(total, 1), start, this.payload(start));
  }

  private payload(v: number): Record<string, string> {
    const now = Date.now();
    this.samples.push({ t: now, v });
    while (this.samples.length > 2 && now - this.samples[0]!.t > 3000) this.samples.shift();
    const first = this.samples[0]!;
    const dt = (now - first.t) / 1000;
    const rate = dt > 0.2 ? (v - first.v) / dt : 0;
    const eta = rate > 0 ? humanDuration((this.total - v) / rate) : '--';
    return {
      done: humanSize(v),
      size: humanSize(this.total),
      speed: rate > 0 ? `${humanSize(rate)}/s` : '--',
      eta_h: eta,
    };
  }

  update(done: number): void {
    if (!this.bar) return;
    const now = Date.now();
    if (now - this.last < 100 && done < this.total) return;
    this.last = now;
    this.bar.update(done, this.payload(done));
  }

  /** Removes the bar; returns "N bytes in T (R/s)" for the summary line. */
  stop(done: number): string {
    this.bar?.update(done, this.payload(done));
    this.bar?.stop();
    this.bar = undefined;
    const secs = Math.max((Date.now() - this.t0) / 1000, 0.001);
    const moved = done - this.start;
    return `${humanSize(moved)} in ${humanDuration(secs)} (${humanSize(moved / secs)}/s)`;
  }
}

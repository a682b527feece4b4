import cliProgress from 'cli-progress';
import type { TransferEvents } from '../core/events.js';
import { formatBytes } from '../core/units.js';

/** A run shorter than this shows no bar at all: a bar that flashes for a small file only hides output. */
export const PROGRESS_DELAY_MS = 1_000;

interface Counts {
  files: number;
  done: number;
  bytesKnown: number;
  bytesMoved: number;
  started: number;
}

/**
 * One bar on stderr for the whole command — bytes moved of bytes known, rate, ETA, and files when there
 * are several — shown only on a terminal, and only once the run has lasted a second. A subscriber to the
 * engine's events, like the log and the summary.
 *
 * Lines printed while the bar is up go above it (`log`), never under it, and `stop` clears the bar, so
 * the result lines and the shell prompt come back on clean lines. cli-progress's MultiBar draws with
 * relative cursor moves; its SingleBar saves and restores the cursor, which would move back over (and
 * erase) every line printed since the bar started.
 */
export class ProgressDisplay {
  private readonly bars = new cliProgress.MultiBar({
    stream: process.stderr,
    format: (options, params, payload: Payload) => formatLine(options, params, payload),
    hideCursor: true,
    clearOnComplete: true,
    fps: 5,
    etaBuffer: 20,
    barsize: 24,
    // Wrapping stays on: the bar is cut to the width instead, and a long result line above it wraps whole.
    linewrap: true,
  }, cliProgress.Presets.shades_classic);
  private bar: cliProgress.SingleBar | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly counts: Counts = { files: 0, done: 0, bytesKnown: 0, bytesMoved: 0, started: Date.now() };
  /** Transfers reading their file for checksums before anything is sent: the bar says so instead of sitting at 0 B/s. */
  private readonly checksumming = new Set<number>();

  constructor(events: TransferEvents) {
    events.on('transfer:start', (e) => {
      this.counts.files += 1;
      this.counts.bytesKnown += e.size ?? 0;
      this.timer ??= setTimeout(() => this.show(), PROGRESS_DELAY_MS).unref();
      this.render();
    });
    events.on('transfer:progress', (e) => {
      this.counts.bytesMoved += e.bytes;
      this.render();
    });
    events.on('transfer:phase', (e) => {
      if (e.phase === 'checksumming') this.checksumming.add(e.id);
      else this.checksumming.delete(e.id);
      this.render();
    });
    events.on('transfer:done', (e) => {
      this.checksumming.delete(e.id);
      this.counts.done += 1;
      this.render();
    });
    events.on('transfer:failed', (e) => {
      this.checksumming.delete(e.id);
      this.render();
    });
  }

  /** How many transfers are reading their file for checksums right now. */
  get checksummingNow(): number {
    return this.checksumming.size;
  }

  /** Whether the bar is on the screen: lines must then go through `log`. */
  get visible(): boolean {
    return this.bar !== undefined;
  }

  /** A line (with its newline) printed above the bar. */
  log(text: string): void {
    this.bars.log(text);
  }

  /** Takes the bar off the screen for good, printing what was logged above it first; true if it was up. */
  stop(): boolean {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.bar) return false;
    this.bars.update();
    this.bars.stop();
    this.bar = undefined;
    return true;
  }

  private show(): void {
    if (this.stopped || this.counts.done >= this.counts.files) return;
    this.bar = this.bars.create(Math.max(this.counts.bytesKnown, 1), this.counts.bytesMoved, this.payload());
  }

  private render(): void {
    if (!this.bar) return;
    this.bar.setTotal(Math.max(this.counts.bytesKnown, 1));
    this.bar.update(Math.max(this.counts.bytesMoved, 0), this.payload());
  }

  private payload(): Payload {
    const seconds = Math.max((Date.now() - this.counts.started) / 1000, 0.001);
    return {
      files: this.counts.files,
      done: this.counts.done,
      moved: formatBytes(Math.max(this.counts.bytesMoved, 0)),
      known: formatBytes(this.counts.bytesKnown),
      speed: formatBytes(Math.round(Math.max(this.counts.bytesMoved, 0) / seconds)),
      checksumming: this.checksumming.size,
    };
  }
}

export interface Payload {
  /** Transfers reading their file for checksums before sending. */
  checksumming: number;
  files: number;
  done: number;
  moved: string;
  known: string;
  speed: string;
}

export function formatLine(options: cliProgress.Options, params: cliProgress.Params, payload: Payload): string {
  const size = options.barsize ?? 24;
  const filled = Math.round(Math.min(Math.max(params.progress, 0), 1) * size);
  const bar = `${(options.barCompleteChar ?? '█').repeat(filled)}${(options.barIncompleteChar ?? '░').repeat(size - filled)}`;
  const percent = `${Math.floor(Math.min(Math.max(params.progress, 0), 1) * 100)}%`.padStart(4);
  const eta = Number.isFinite(params.eta) && params.eta > 0 ? ` | ETA ${cliProgress.Format.TimeFormat(params.eta, options, 1)}` : '';
  const files = payload.files > 1 ? ` | ${payload.done}/${payload.files} files` : '';
  const phase = payload.checksumming > 0 ? ` | checksumming ${payload.checksumming === 1 ? 'the file' : `${payload.checksumming} files`} before sending` : '';
  return ` ${bar} ${percent} | ${payload.moved} of ${payload.known} | ${payload.speed}/s${eta}${files}${phase}`;
}

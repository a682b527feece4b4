import cliProgress from 'cli-progress';
import type { TransferEvents } from '../core/events.js';
import { formatBytes } from '../core/config/units.js';

/** A run shorter than this shows no bar at all: a bar that flashes for a small file only hides output. */
export const PROGRESS_DELAY_MS = 1_000;

/** The bar's width on a wide terminal; on a narrow one it gives way, down to BAR_MIN_WIDTH, before any field does. */
export const BAR_WIDTH = 24;
const BAR_MIN_WIDTH = 10;

/** Where the bar is drawn: it is only ever shown when that is a terminal (runtime.ts). */
const stream = process.stderr;

interface Counts {
  /** Transfers started (the total when there is no plan: one file, standard input). */
  files: number;
  done: number;
  /** Bytes of the transfers started. */
  bytesKnown: number;
  bytesMoved: number;
  started: number;
}

/** What a multi-file command planned: its transfers, told before they start (see `plan:*` events). */
interface Plan {
  files: number;
  bytes: number;
  complete: boolean;
}

/**
 * One bar on stderr for the whole command — bytes moved of bytes known, rate, ETA, and files when there
 * are several — shown only on a terminal, and only once the run has lasted a second. A subscriber to the
 * engine's events, like the log and the summary.
 *
 * A multi-file command tells its plan first (`plan:add`, read ahead of the transfers): the total is the
 * plan's bytes, not those of the transfers started so far, so the bar neither stalls short of the end
 * nor jumps back as transfers start. It shows 100 % only once every planned file has arrived; a failed
 * transfer's bytes are taken back, so a run with a failure ends short of it. A plan still being read
 * shows its total as a lower bound (`+`).
 *
 * Lines printed while the bar is up go above it (`log`), never under it, and `stop` clears the bar, so
 * the result lines and the shell prompt come back on clean lines. cli-progress's MultiBar draws with
 * relative cursor moves; its SingleBar saves and restores the cursor, which would move back over (and
 * erase) every line printed since the bar started.
 *
 * The bar's line is all the bar owns, and clearing it must clear the bar whatever else wrote to the
 * terminal meanwhile. So the line never reaches the last column (a full line leaves the cursor
 * waiting to wrap), and between frames the (hidden) cursor waits at its start: the `^C` the terminal
 * echoes at Ctrl-C, or characters typed ahead, land on the bar's line instead of wrapping to the next
 * one, where the clear would miss the bar. Lines that reach the terminal through another process
 * (stdout piped to `cat`), at moments we do not know, cannot go above the bar: the bar steps aside
 * for them (`stepAside`).
 */
export class ProgressDisplay {
  /** The bar on the screen, drawn by a MultiBar of its own each time it shows. */
  private bars: cliProgress.MultiBar | undefined;
  private bar: cliProgress.SingleBar | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly counts: Counts = { files: 0, done: 0, bytesKnown: 0, bytesMoved: 0, started: Date.now() };
  private plan: Plan | undefined;
  /** Bytes moved per transfer in progress, taken back from the total moved if it fails. */
  private readonly movedBy = new Map<number, number>();
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
      this.movedBy.set(e.id, (this.movedBy.get(e.id) ?? 0) + e.bytes);
      this.render();
    });
    events.on('plan:add', (e) => {
      this.plan ??= { files: 0, bytes: 0, complete: false };
      this.plan.files += e.files;
      this.plan.bytes += e.bytes;
      this.render();
    });
    events.on('plan:drop', (e) => {
      this.plan ??= { files: 0, bytes: 0, complete: false };
      this.plan.files -= e.files;
      this.plan.bytes -= e.bytes;
      this.render();
    });
    events.on('plan:complete', () => {
      this.plan ??= { files: 0, bytes: 0, complete: false };
      this.plan.complete = true;
      this.render();
    });
    events.on('transfer:phase', (e) => {
      if (e.phase === 'checksumming') this.checksumming.add(e.id);
      else this.checksumming.delete(e.id);
      this.render();
    });
    events.on('transfer:done', (e) => {
      this.checksumming.delete(e.id);
      // A transfer that arrived counts its size exactly, whatever its progress events added up to.
      this.counts.bytesMoved += e.size - (this.movedBy.get(e.id) ?? 0);
      this.movedBy.delete(e.id);
      this.counts.done += 1;
      this.render();
    });
    events.on('transfer:failed', (e) => {
      this.checksumming.delete(e.id);
      this.counts.bytesMoved -= this.movedBy.get(e.id) ?? 0;
      this.movedBy.delete(e.id);
      this.render();
    });
  }

  /** How many transfers are reading their file for checksums right now. */
  get checksummingNow(): number {
    return this.checksumming.size;
  }

  /** Files and bytes of the whole run as the bar counts them: the plan's when there is one. */
  get totals(): { files: number; bytes: number; complete: boolean; done: number; moved: number; percent: number } {
    const files = this.plan ? this.plan.files : this.counts.files;
    const bytes = this.plan ? this.plan.bytes : this.counts.bytesKnown;
    const complete = this.plan ? this.plan.complete : true;
    const moved = Math.max(Math.min(this.counts.bytesMoved, bytes), 0);
    const finished = complete && this.counts.done >= files;
    // 100 % is the end: every planned file arrived, not bytes that add up while one is still being proven.
    const percent = finished ? 100 : Math.min(Math.floor((moved / Math.max(bytes, 1)) * 100), 99);
    return { files, bytes, complete, done: this.counts.done, moved, percent };
  }

  /** Whether the bar is on the screen: lines must then go through `log`. */
  get visible(): boolean {
    return this.bar !== undefined;
  }

  /** A line (with its newline) printed above the bar. */
  log(text: string): void {
    this.bars?.log(text);
  }

  /**
   * Takes the bar off the screen before a line another process may print on it (stdout piped to
   * `cat`): that line lands on a clean line, not after or over the bar. The bar comes back once no
   * such line has come for PROGRESS_DELAY_MS, time for the other process to have printed it.
   */
  stepAside(): void {
    if (this.stopped) return;
    this.takeDown();
    // Before the first transfer there is no bar to bring back yet.
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.show(), PROGRESS_DELAY_MS).unref();
  }

  /** Takes the bar off the screen for good, printing what was logged above it first; true if it was up. */
  stop(): boolean {
    this.stopped = true;
    clearTimeout(this.timer);
    return this.takeDown();
  }

  private show(): void {
    const totals = this.totals;
    if (this.stopped || this.bars || (totals.complete && this.counts.done >= totals.files)) return;
    this.bars = new cliProgress.MultiBar({
      stream,
      format: (options, params, payload: Payload) => formatLine(options, params, payload),
      hideCursor: true,
      clearOnComplete: true,
      fps: 5,
      etaBuffer: 20,
      barsize: BAR_WIDTH,
      // Wrapping stays on: the bar is fitted to the width instead, and a long result line above it wraps whole.
      linewrap: true,
    }, cliProgress.Presets.shades_classic);
    // After each frame the cursor goes back to the start of the bar's line (see the class comment).
    this.bars.on('redraw-post', () => {
      if (stream.isTTY) stream.write('\r');
    });
    this.bar = this.bars.create(Math.max(totals.bytes, 1), totals.moved, this.payload());
  }

  /** Clears the bar off the screen, printing what was logged above it first; true if it was up. */
  private takeDown(): boolean {
    if (!this.bars) return false;
    this.bars.update();
    this.bars.stop();
    this.bars = undefined;
    this.bar = undefined;
    return true;
  }

  private render(): void {
    if (!this.bar) return;
    const totals = this.totals;
    this.bar.setTotal(Math.max(totals.bytes, 1));
    this.bar.update(totals.moved, this.payload());
  }

  private payload(): Payload {
    const totals = this.totals;
    const seconds = Math.max((Date.now() - this.counts.started) / 1000, 0.001);
    return {
      files: totals.files,
      done: totals.done,
      moved: formatBytes(totals.moved),
      known: `${formatBytes(totals.bytes)}${totals.complete ? '' : '+'}`,
      speed: formatBytes(Math.round(Math.max(this.counts.bytesMoved, 0) / seconds)),
      percent: totals.percent,
      checksumming: this.checksumming.size,
    };
  }
}

export interface Payload {
  /** Transfers reading their file for checksums before sending. */
  checksumming: number;
  files: number;
  done: number;
  /** Whole percent, 100 only once every file arrived. */
  percent: number;
  moved: string;
  known: string;
  speed: string;
}

/**
 * The bar's line, fitted to the terminal's width (`maxWidth`) short of its last column (see
 * ProgressDisplay): the bar and percent, then what matters first — how many files, what is being done
 * (checksumming) — then bytes, rate and ETA. The bar narrows first; a field that still does not fit is
 * left out whole, with those after it, where cli-progress would cut the line at the width in the middle
 * of a word.
 */
export function formatLine(options: cliProgress.Options, params: cliProgress.Params, payload: Payload): string {
  const width = params.maxWidth - 1;
  const percent = `${payload.percent}%`.padStart(4);
  const fields = [
    payload.files > 1 ? `${payload.done}/${payload.files} files` : '',
    payload.checksumming > 0 ? `checksumming ${payload.checksumming === 1 ? 'the file' : `${payload.checksumming} files`} before sending` : '',
    `${payload.moved} of ${payload.known}`,
    `${payload.speed}/s`,
    Number.isFinite(params.eta) && params.eta > 0 ? `ETA ${cliProgress.Format.TimeFormat(params.eta, options, 1)}` : '',
  ].filter((field) => field !== '');
  const widest = options.barsize ?? BAR_WIDTH;
  for (let kept = fields.length; ; kept -= 1) {
    const text = [percent, ...fields.slice(0, kept)].join(' | ');
    // The line is a space, the bar, a space and the text; on a terminal too narrow even for the
    // smallest bar and the percent, it is cut.
    const room = width - text.length - 2;
    if (room >= BAR_MIN_WIDTH || kept === 0) return ` ${bar(options, payload.percent, Math.max(Math.min(room, widest), BAR_MIN_WIDTH))} ${text}`.slice(0, width);
  }
}

function bar(options: cliProgress.Options, percent: number, size: number): string {
  const filled = Math.floor((percent / 100) * size);
  return `${(options.barCompleteChar ?? '█').repeat(filled)}${(options.barIncompleteChar ?? '░').repeat(size - filled)}`;
}

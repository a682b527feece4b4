import { setMaxListeners } from 'node:events';
import { DatalakeError } from '../core/errors.js';
import { exitCodeForSignal, reportStoppedNow } from './exit-codes.js';
import { currentOutput } from './output.js';

/** How long in-flight requests may take to finish after the first signal. */
export const GRACE_PERIOD_MS = 10_000;

/**
 * SIGINT and SIGTERM. The first one stops new work (`stopping`): no new request starts, the ones in
 * flight may finish within the grace period, journals are kept so a re-run resumes. When the grace
 * period is over, or on a second signal, `signal` aborts whatever is still in flight; a second signal
 * also ends the process at once, with the `--json` document the run could not print.
 */
class Interruption {
  private readonly soft = new AbortController();
  private readonly hard = new AbortController();
  /** The first signal received, if any. */
  received: NodeJS.Signals | undefined;
  /**
   * Whether stdout carries the command's output itself (ls, cat, get -, presign, stat, uploads ls,
   * table log): a reader that goes away (`| head`) ends such a run, exit 0 (bin/datalake). Elsewhere
   * stdout only reports on work (put, sync, get -r, cp, rm…), which goes on without its reader and
   * ends with its own exit code.
   */
  stdoutIsTheOutput = false;
  private readonly noticeHooks: Array<() => boolean> = [];

  constructor() {
    // Every request in flight listens on these signals: hundreds at once is normal, not a leak.
    setMaxListeners(0, this.soft.signal);
    setMaxListeners(0, this.hard.signal);
  }

  /** Aborted on the first signal: start nothing new. */
  get stopping(): AbortSignal {
    return this.soft.signal;
  }

  /** Aborted when in-flight work must stop now. */
  get signal(): AbortSignal {
    return this.hard.signal;
  }

  /**
   * Runs before a signal's message is printed: a progress bar clears itself off its line, and says so
   * (true), so the message starts there instead of on a new line.
   */
  beforeNotice(hook: () => boolean): void {
    this.noticeHooks.push(hook);
  }

  install(): void {
    const onSignal = (name: NodeJS.Signals) => {
      const lineCleared = this.noticeHooks.map((hook) => hook()).includes(true);
      if (this.received) {
        this.hard.abort(new DatalakeError('interrupted', `interrupted by ${name}`));
        process.stderr.write(`datalake: ${name} again: stopping now\n`);
        // The command will not get to report: its --json document is printed here (argv before its output exists).
        reportStoppedNow(this.soft.signal.reason as DatalakeError, currentOutput()?.mode.json ?? process.argv.includes('--json'), this.exitCode());
        process.exit(this.exitCode());
      }
      this.received = name;
      process.stderr.write(`${lineCleared ? '' : '\n'}datalake: ${name} received: finishing the requests in flight (up to ${GRACE_PERIOD_MS / 1000} s), then stopping; send it again to stop now\n`);
      const reason = new DatalakeError('interrupted', `interrupted by ${name}`, { hint: 'run the same command again to resume' });
      this.soft.abort(reason);
      setTimeout(() => this.hard.abort(reason), GRACE_PERIOD_MS).unref();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  exitCode(): number {
    return exitCodeForSignal(this.received);
  }
}

export const interruption = new Interruption();

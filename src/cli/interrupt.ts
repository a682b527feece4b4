import { setMaxListeners } from 'node:events';
import { DatalakeError } from '../core/errors.js';

/**
 * SIGINT and SIGTERM: the first one aborts the run's signal (no new request starts, in-flight ones
 * are cancelled, temporary files are removed); a second one exits at once.
 */
class Interruption {
  private readonly controller = new AbortController();
  private received: NodeJS.Signals | undefined;

  constructor() {
    // Every request in flight listens on this one signal: hundreds at once is normal, not a leak.
    setMaxListeners(0, this.controller.signal);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  install(): void {
    const onSignal = (name: NodeJS.Signals) => {
      if (this.received) process.exit(this.exitCode());
      this.received = name;
      process.stderr.write(`\ndatalake: ${name} received, stopping (press again to exit at once)\n`);
      this.controller.abort(new DatalakeError('interrupted', `interrupted by ${name}`));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  exitCode(): number {
    return this.received === 'SIGTERM' ? 143 : 130;
  }
}

export const interruption = new Interruption();

import { join } from 'node:path';
import type { Logger } from 'pino';
import { PART_BUFFERS_IN_FLIGHT, resolveSettings, type SettingFlags, type Settings } from '../core/config/config.js';
import type { TransferContext } from '../core/s3/context.js';
import { usageError } from '../core/errors.js';
import { LOG_LEVELS, createLogger, logTransferEvents } from './logger.js';
import { Output } from './output.js';

/** Options every command takes (commander's optsWithGlobals). */
export interface GlobalOptions extends SettingFlags {
  json?: boolean;
  quiet?: boolean;
  progress?: boolean;
  logLevel?: string;
  logFile?: string;
}

export interface Runtime {
  settings: Settings;
  ctx: TransferContext;
  out: Output;
  logger: Logger | undefined;
  /** Stops the progress bar and flushes logs; called once the command's work is over. */
  close(): void;
}

/**
 * Checks what can be checked without a network: log options, then settings. Usage errors only. The
 * log is opened first, so that a setting refused is in it as the run's error.
 */
export async function resolveGlobals(options: GlobalOptions): Promise<{ settings: Settings; out: Output }> {
  if (options.logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(options.logLevel)) {
    throw usageError(`invalid --log-level '${options.logLevel}'`, `use one of ${LOG_LEVELS.join(', ')}`);
  }
  const out = new Output({ json: options.json === true, quiet: options.quiet === true });
  out.logger = await createLogger({ level: options.logLevel, file: options.logFile });
  const settings = await resolveSettings(options);
  runSettings = settings;
  return { settings, out };
}

/** This process's command's settings, once resolved: where errors are mapped, messages name its endpoint. */
let runSettings: Settings | undefined;

export function currentSettings(): Settings | undefined {
  return runSettings;
}

/** Builds the engine for a command: the S3 client, the limiter, events and their subscribers. */
export async function openRuntime(
  options: GlobalOptions,
  interruption: { signal: AbortSignal; stopping: AbortSignal; beforeNotice(hook: () => boolean): void },
  resolved?: { settings: Settings; out: Output },
): Promise<Runtime> {
  const { settings, out } = resolved ?? (await resolveGlobals(options));
  const [{ connectS3 }, { RequestLimiter }, { TransferEvents }, { DEFAULT_RETRY_POLICY }, { BufferPool }, { UploadJournal }, { stateDirectory }, v8] = await Promise.all([
    import('../core/s3/connection.js'),
    import('../core/s3/limiter.js'),
    import('../core/events.js'),
    import('../core/s3/retry.js'),
    import('../core/transfer/buffer-pool.js'),
    import('../core/transfer/upload-journal.js'),
    import('../core/config/state-paths.js'),
    import('node:v8'),
  ]);
  // A run is seconds long, not hours: V8 would spend much of its CPU compiling code with its
  // optimizing compiler on other threads, CPU that a small machine shares with the server. Code is
  // optimized only once it has run eight times longer than V8's default budget (the README's
  // Performance section says what that saves). Set here, once the modules are loaded, not at start:
  // a changed flag makes V8 refuse Node's cached code for every built-in module compiled after it.
  // V8 12 and later (Node 22, 24) tier up by invocation counts and have no such flag: an unknown flag
  // is not an exception but a line V8 prints on stderr, so it is set only where V8 has it.
  if (Number(process.versions.v8.split('.')[0]) < 12) v8.setFlagsFromString('--interrupt-budget=1048576');
  const events = new TransferEvents();
  const { logger } = out;
  if (logger) logTransferEvents(events, logger);
  events.on('warning', (warning) => out.warn(warning.message));

  let stopProgress: () => void = () => undefined;
  const wantsProgress = options.progress !== false && options.quiet !== true && process.stderr.isTTY === true && !(options.logLevel && !options.logFile);
  if (wantsProgress) {
    const { ProgressDisplay } = await import('./progress.js');
    const display = new ProgressDisplay(events);
    out.attachDisplay(display);
    // A signal's message is printed on a clean line, not over the bar.
    interruption.beforeNotice(() => display.stop());
    // A process that ends before the command is over (stdout's reader gone, a second signal) takes
    // the bar off the screen too, and shows the cursor again.
    process.once('exit', () => display.stop());
    stopProgress = () => display.stop();
  }

  const ctx: TransferContext = {
    ...connectS3(settings),
    limiter: new RequestLimiter(settings.concurrency, interruption.stopping),
    retryPolicy: { ...DEFAULT_RETRY_POLICY, retries: settings.retries },
    events,
    buffers: new BufferPool(PART_BUFFERS_IN_FLIGHT * settings.partSize),
    partSize: settings.partSize,
    signal: interruption.signal,
    stopping: interruption.stopping,
    journal: new UploadJournal(join(stateDirectory(), 'uploads')),
  };
  logger?.debug({ region: settings.region, endpoint: settings.endpoint, bucket: settings.bucket, concurrency: settings.concurrency, partSize: settings.partSize }, 'settings');
  return {
    settings,
    ctx,
    out,
    logger,
    close() {
      stopProgress();
      ctx.client.destroy();
    },
  };
}

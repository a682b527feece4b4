/**
 * Every exit code datalake ends with is decided here, from what a command threw (SPEC: 0 done,
 * 1 something failed, 2 bad input or usage, 130/143 stopped by SIGINT/SIGTERM): `exitCodeFor` maps a
 * thrown value to its code, and `reportError` (what main.ts calls) prints it as one line, or with
 * `--json` one document, before returning that code. Commands never set `process.exitCode`: one whose
 * items failed one by one throws `ItemsFailed` once its summary is made, and its `--json` document
 * goes out here, with the `error` that says so.
 */
import { CommanderError } from 'commander';
import { sep } from 'node:path';
import { DatalakeError, failure, isDatalakeError, type ErrorKind } from '../core/errors.js';
import { cacheDirectory, stateDirectory } from '../core/config/state-paths.js';
import { explainError, jsonErrorCode } from '../core/s3/explain-error.js';
import { currentOutput, errorLine, failedItemsError, joinedLines, jsonText, type JsonError } from './output.js';
import { currentSettings } from './runtime.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** The code of a run stopped by a signal: 128 + the signal's number, as shells report it. */
export function exitCodeForSignal(signal: NodeJS.Signals | undefined): number {
  return signal === 'SIGTERM' ? 143 : 130;
}

/**
 * A command whose failed items were each named as they failed and whose summary is made (its line
 * printed, its JSON document held by Output): the run ends with exit 1, nothing more on stderr, and
 * the document gets its `error` — from its own `failed` list, else `jsonError`.
 */
export class ItemsFailed extends DatalakeError {
  readonly jsonError: JsonError;

  constructor(
    readonly count: number,
    first?: FirstFailure,
  ) {
    super('failed', `${count} item${count === 1 ? '' : 's'} failed`);
    this.name = 'ItemsFailed';
    this.jsonError = first ? failedItemsError(count, first) : { code: 'failed', message: this.message };
  }
}

/** The first item that failed, as its line named it: for the `error` of a document that lists no `failed` items. */
export interface FirstFailure {
  name: string;
  reason: string;
  code?: string | undefined;
}

/** Ends the command with exit 1 when any of its items failed; `first` names the first of them for the `--json` document's `error`. */
export function failIfAny(failedCount: number, first?: FirstFailure): void {
  if (failedCount > 0) throw new ItemsFailed(failedCount, first);
}

export function exitCodeForKind(kind: ErrorKind, signal: NodeJS.Signals | undefined): number {
  switch (kind) {
    case 'usage':
      return EXIT_USAGE;
    case 'interrupted':
      return exitCodeForSignal(signal);
    case 'failed':
      return EXIT_FAILED;
  }
}

/**
 * The exit code of whatever a command threw: `ItemsFailed` 1; commander's help and version 0 (its
 * help shown for a mistake 2) and its other refusals (an unknown flag, a missing argument) 2; a
 * `DatalakeError` by its kind; anything else, a failure the core did not explain, 1.
 */
export function exitCodeFor(error: unknown, signal: NodeJS.Signals | undefined): number {
  if (error instanceof ItemsFailed) return EXIT_FAILED;
  if (error instanceof CommanderError) return helpOrVersion(error) && error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  return exitCodeForKind(isDatalakeError(error) ? error.kind : 'failed', signal);
}

/**
 * Maps anything thrown to one line on stderr and its exit code; with `--json`, stdout still gets one
 * document, with an `error` beside whatever completed; the log (once the command opened one), one
 * record of the run's failure. `signal`: the one that stopped the run, if any.
 */
export function reportError(error: unknown, options: { debug: boolean; json: boolean; signal?: NodeJS.Signals | undefined }): number {
  const { debug } = options;
  const code = exitCodeFor(error, options.signal);
  // Its items were named one by one and its summary line is out: with --json, its document, with the
  // error; the log, the run's end (each item has its own record).
  if (error instanceof ItemsFailed) {
    currentOutput()?.logRunFailure({ exitCode: code, code: 'failed', failed: error.count });
    if (options.json) printErrorDocument(error.jsonError, 'items');
    return code;
  }
  if (error instanceof CommanderError) {
    // commander has printed its own line (or the help, shown for a mistake: no command given); --json adds the document.
    if ((!helpOrVersion(error) || code !== EXIT_OK) && options.json) printErrorDocument({ code: 'usage', message: error.message === '(outputHelp)' ? 'a command is needed (`datalake --help` lists them)' : joinedLines(error.message.replace(/^error: /, '')) });
    return code;
  }
  // The endpoint in use once settings are resolved (flag, environment or profile; none under
  // AWS_IGNORE_CONFIGURED_ENDPOINT_URLS); before that, the environment's.
  const settings = currentSettings();
  const endpoint = settings ? settings.endpoint : (process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL);
  const explained: DatalakeError = isDatalakeError(error) ? error : (localStateFailure(error) ?? explainError(error, { endpoint }));
  process.stderr.write(`${errorLine(explained)}\n`);
  // The S3 or system code behind the error (NoSuchBucket, ECONNREFUSED…), else its kind (usage, failed, interrupted).
  const json = jsonError(explained);
  // The kind the explanation found (a working folder removed before anything began is bad input).
  const exitCode = exitCodeFor(explained, options.signal);
  currentOutput()?.logRunFailure({ exitCode, code: json.code, error: json.message });
  if (options.json) printErrorDocument(json);
  if (debug) process.stderr.write(`${(explained.cause instanceof Error ? explained.cause.stack : undefined) ?? explained.stack ?? ''}\n`);
  return exitCode;
}

/**
 * A second signal ends the process at once, before the command can report: with `--json`, stdout
 * still gets its one document (unless one is out already), with the interrupt as its `error`; the
 * log, its record of the run's failure.
 */
export function reportStoppedNow(reason: DatalakeError, json: boolean, exitCode: number): void {
  const error = jsonError(reason);
  currentOutput()?.logRunFailure({ exitCode, code: error.code, error: error.message });
  if (json) printErrorDocument(error);
}

function jsonError(explained: DatalakeError): JsonError {
  return { code: jsonErrorCode(explained), message: errorLine(explained).replace(/^datalake: error: /, '') };
}

/** commander showed the help or the version: asked for (exit 0), or shown for a mistake (exit 2, its own exit code 1). */
function helpOrVersion(error: CommanderError): boolean {
  return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help';
}

function printErrorDocument(error: JsonError, cause: 'error' | 'items' = 'error'): void {
  const out = currentOutput();
  if (out) out.failWithJson(error, cause);
  else process.stdout.write(`${jsonText({ error })}\n`);
}

/**
 * A system error on datalake's own state or cache directory (a journal, a lock, the hash cache),
 * named as that directory with the setting that moves it, not as a bare `EACCES … mkdir`.
 */
function localStateFailure(error: unknown): DatalakeError | undefined {
  const { code, path } = (error ?? {}) as { code?: unknown; path?: unknown };
  if (typeof code !== 'string' || typeof path !== 'string') return undefined;
  for (const [what, directory, setting] of [
    ['state', stateDirectory(), 'DATALAKE_STATE_DIR'],
    ['cache', cacheDirectory(), 'DATALAKE_CACHE_DIR'],
  ] as const) {
    const inside = path === directory || path.startsWith(`${directory}${sep}`) || directory.startsWith(`${path}${sep}`);
    if (inside) return failure(`cannot write datalake's ${what} directory ${directory}: ${code} at ${path}`, { hint: `set ${setting} to a folder this user can write` });
  }
  return undefined;
}

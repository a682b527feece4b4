import type { DatalakeError } from '../core/errors.js';

export interface OutputMode {
  json: boolean;
  quiet: boolean;
}

/**
 * Everything a command prints goes through here: human lines on stdout, one JSON document with
 * `--json`, warnings and errors as single lines on stderr.
 */
export class Output {
  private batch: string | undefined;

  constructor(readonly mode: OutputMode) {}

  /** A human line on stdout; silent with --json or --quiet. */
  line(text: string): void {
    if (!this.mode.json && !this.mode.quiet) this.write(`${text}\n`);
  }

  /** Text on stdout as it is (a JSON document streamed piece by piece). */
  write(text: string): void {
    if (this.batch === undefined) {
      process.stdout.write(text);
      return;
    }
    this.batch += text;
    if (this.batch.length >= BATCH_CHARACTERS) this.flushBatch();
  }

  /** Until endBatch(), stdout is written in large pieces: a listing of thousands of lines, a few writes. */
  startBatch(): void {
    this.batch ??= '';
  }

  endBatch(): void {
    this.flushBatch();
    this.batch = undefined;
  }

  private flushBatch(): void {
    if (this.batch) process.stdout.write(this.batch);
    if (this.batch !== undefined) this.batch = '';
  }

  /** The one JSON document of a `--json` run. */
  json(document: unknown): void {
    if (this.mode.json) process.stdout.write(`${JSON.stringify(document)}\n`);
  }

  warn(text: string): void {
    if (!this.mode.quiet) process.stderr.write(`datalake: warning: ${oneLine(text)}\n`);
  }

  /** A failed object, named, with what went wrong; printed even with --quiet. */
  failed(what: string, reason: string): void {
    process.stderr.write(`datalake: failed: ${oneLine(what)}: ${oneLine(reason)}\n`);
  }
}

const BATCH_CHARACTERS = 64 * 1024;

export function errorLine(error: DatalakeError): string {
  return `datalake: error: ${oneLine(error.message)}${error.hint ? ` (${oneLine(error.hint)})` : ''}`;
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

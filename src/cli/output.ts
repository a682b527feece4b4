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
  constructor(readonly mode: OutputMode) {}

  /** A human line on stdout; silent with --json or --quiet. */
  line(text: string): void {
    if (!this.mode.json && !this.mode.quiet) process.stdout.write(`${text}\n`);
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

export function errorLine(error: DatalakeError): string {
  return `datalake: error: ${oneLine(error.message)}${error.hint ? ` (${oneLine(error.hint)})` : ''}`;
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

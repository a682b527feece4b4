import { fstatSync } from 'node:fs';
import type { Logger } from 'pino';
import type { DatalakeError } from '../core/errors.js';

export interface OutputMode {
  json: boolean;
  quiet: boolean;
}

/** Where a failed item is, for its log record: what the command knows of it. */
export interface FailedWhere {
  bucket?: string | undefined;
  key?: string | undefined;
  path?: string | undefined;
  /** The error's code, as `--json` gives it. */
  code?: string | undefined;
}

/**
 * Everything a command prints goes through here: human lines on stdout, one JSON document with
 * `--json`, warnings and errors as single lines on stderr — and each failure, of an item or of the
 * run, as one record of the run's log too (`--log-file`, `--log-level`), so that a log read alone
 * tells what failed. Over 300 lines on purpose: one place decides what goes to which stream.
 */
export class Output {
  private batch: string | undefined;
  /** Whether the run's one JSON document is on stdout (whole, or begun by a streaming command), or held in `pending`. */
  private documentStarted = false;
  /**
   * The run's document, held until the run ends: only then is it known whether the run failed (a
   * mismatch, a manifest that could not be written), and the document printed with its `error`.
   */
  private pending: { document: unknown } | undefined;
  /** What completed so far, for the document a failing run still prints beside its `error`. */
  private partial: (() => Record<string, unknown>) | undefined;
  /** Ends a document a streaming command began, with the error inside it. */
  private closeStream: ((error: JsonError) => string) | undefined;

  /** A progress bar on the terminal: lines printed while it is up go above it. */
  private display: StatusDisplay | undefined;

  /** The run's pino log, when one was asked for. */
  logger: Logger | undefined;

  constructor(readonly mode: OutputMode) {
    runOutput = this;
  }

  attachDisplay(display: StatusDisplay): void {
    this.display = display;
  }

  /** A human line on stdout (names in it shown with their control characters escaped); silent with --json or --quiet. */
  line(text: string): void {
    if (this.mode.json || this.mode.quiet) return;
    text = escapeControls(text);
    // On the bar's terminal, the line is drawn above the bar instead of under it.
    if (this.display?.visible && process.stdout.isTTY) {
      this.display.log(`${text}\n`);
      return;
    }
    // Through a pipe, another process may print the line on the bar's terminal (`| cat`), when we cannot know.
    if (this.display && stdoutIsPipe()) this.display.stepAside();
    this.write(`${text}\n`);
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

  /** The one JSON document of a `--json` run: printed as the run ends (finish or failWithJson), with `error` if it failed. */
  json(document: unknown): void {
    if (!this.mode.json) return;
    this.documentStarted = true;
    this.pending = { document };
  }

  /** The run ended without an error: its document goes out. */
  finish(): void {
    this.printPending(undefined);
  }

  /** Prints the held document; `itemsError`: the error of a run that failed by items its document does not list under `failed`. */
  private printPending(itemsError: JsonError | undefined): void {
    if (this.pending === undefined) return;
    const { document } = this.pending;
    this.pending = undefined;
    process.stdout.write(`${jsonText(withFailureError(document, itemsError))}\n`);
  }

  /** With `--json`, a document streamed piece by piece: `close` ends it when the run fails midway. */
  beginJsonStream(opening: string, close: (error: JsonError) => string): void {
    if (!this.mode.json) return;
    this.documentStarted = true;
    this.closeStream = close;
    this.write(opening);
  }

  /** The streamed document ended normally. */
  endJsonStream(closing: string): void {
    if (!this.mode.json) return;
    this.closeStream = undefined;
    this.write(closing);
  }

  /** What a failing `--json` run reports as completed beside its `error` (objects, failures, counts). */
  reportPartial(document: () => Record<string, unknown>): void {
    this.partial = document;
  }

  /**
   * A run that ends in an error, an interrupt or a refusal still prints one document with `--json`:
   * what completed (its document, if it got that far), and `error` with a code and the message
   * printed on stderr. `items`: the run failed by its items (ItemsFailed), whose document's own
   * `failed` list names the first failure; `error` then stands for the document that has none.
   */
  failWithJson(error: JsonError, cause: 'error' | 'items' = 'error'): void {
    if (!this.mode.json) return;
    if (this.closeStream) {
      this.write(this.closeStream(error));
      this.closeStream = undefined;
      this.endBatch();
      return;
    }
    // Something that failed after the document was made (a manifest not written) is what ended the run.
    if (this.pending !== undefined && cause === 'error') this.pending = { document: { ...(this.pending.document as object), error } };
    if (this.pending === undefined && !this.documentStarted) this.pending = { document: { ...(this.partial?.() ?? {}), error } };
    this.documentStarted = true;
    this.printPending(error);
  }

  /** A human line about the result on stderr, so that stdout holds only the result itself; silent with --json or --quiet. */
  note(text: string): void {
    if (!this.mode.json && !this.mode.quiet) this.stderr(`${escapeControls(text)}\n`);
  }

  warn(text: string): void {
    if (!this.mode.quiet) this.stderr(`datalake: warning: ${oneLine(text)}\n`);
  }

  /**
   * A failed item, named (escaped as every line names it), with what went wrong; printed even with
   * --quiet. Every item a run records as failed and goes on from is told here, and so logged here:
   * one record at level error, the item as the line names it, where it is, and the same reason.
   */
  failed(what: string, reason: string, where: FailedWhere = {}): void {
    this.stderr(`datalake: failed: ${escapeControls(what)}: ${oneLine(reason)}\n`);
    this.logger?.error({ item: what, ...definedFields(where), error: oneLine(reason) }, 'item failed');
  }

  /**
   * The run's end, when it fails, as the log's last record: its error (the line stderr shows, at level
   * fatal), or how many items failed (at level error: each has its own record), with the exit code.
   */
  logRunFailure(end: { exitCode: number; code: string } & ({ error: string } | { failed: number })): void {
    if (!this.logger) return;
    if ('error' in end) this.logger.fatal(end, 'run failed');
    else this.logger.error(end, `run failed: ${end.failed} item${end.failed === 1 ? '' : 's'} failed`);
  }

  private stderr(text: string): void {
    if (this.display?.visible) this.display.log(text);
    else process.stderr.write(text);
  }
}

const BATCH_CHARACTERS = 64 * 1024;

/** A log record's fields without those not known (an empty path is not known either). */
function definedFields(fields: FailedWhere): FailedWhere {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined && value !== ''));
}

/** What Output needs of a progress display (src/cli/progress.ts). */
export interface StatusDisplay {
  readonly visible: boolean;
  log(text: string): void;
  /** Off the screen before a line that another process may print there; back once such lines stop. */
  stepAside(): void;
}

let stdoutPipe: boolean | undefined;

/** Whether stdout is a pipe or a socket, whose reader may be printing on the terminal; not a file, /dev/null or the terminal. */
function stdoutIsPipe(): boolean {
  if (stdoutPipe === undefined) {
    try {
      const stat = fstatSync(1);
      stdoutPipe = stat.isFIFO() || stat.isSocket();
    } catch {
      stdoutPipe = false;
    }
  }
  return stdoutPipe;
}

export interface JsonError {
  code: string;
  message: string;
}

/** The Output of this process's command, for the error document printed where errors are mapped. */
let runOutput: Output | undefined;

export function currentOutput(): Output | undefined {
  return runOutput;
}

export function errorLine(error: DatalakeError): string {
  return `datalake: error: ${oneLine(error.message)}${error.hint ? ` (${oneLine(error.hint)})` : ''}`;
}

/**
 * A message as one line. A line break that lays text out (another program's message: spaces around
 * it, or at an end) becomes one space; any other control character is escaped — a line break inside
 * a name too (`new\nline.csv`), as ls and every other line show it. datalake's own messages are one line.
 */
export function oneLine(text: string): string {
  return escapeControls(text.replace(/^\s+|\s+$/g, '').replace(/[ \t]*\r?\n[ \t]+|[ \t]+\r?\n[ \t]*/g, ' '));
}

/** Text another program laid out in lines (commander's errors) as one line: each of its line breaks a space. */
export function joinedLines(text: string): string {
  return oneLine(text.replace(/\s*\n\s*/g, ' '));
}

const NAMED_CONTROLS: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r', '\\': '\\\\' };

/**
 * What a terminal must never be handed raw inside a name, nor a reader fail to see: the format
 * characters (Unicode's Cf: the bidirectional controls U+061C, U+200E–U+200F, U+202A–U+202E,
 * U+2066–U+2069, which reorder what follows them, so `invoice\u202eFDP.exe` shows as
 * `invoiceexe.PDF`; the zero-width ones U+200B–U+200D, U+2060–U+2064, U+FEFF; the soft hyphen U+00AD;
 * the tag characters U+E0000–U+E007F), every other character Unicode says to show as nothing
 * (Default_Ignorable_Code_Point: the combining grapheme joiner U+034F, the variation selectors, the
 * Hangul fillers U+115F, U+1160, U+3164, U+FFA0), the blank Braille pattern U+2800, the line and
 * paragraph separators (U+2028, U+2029) and every space but the ASCII one (U+00A0 and the like): so
 * that two names never print alike. JSON text escapes these as well (jsonText).
 */
const INVISIBLE = String.raw`\p{Cf}\p{Default_Ignorable_Code_Point}\u2800\u2028\u2029\p{Zs}`;

/**
 * What a printed line escapes: control characters (C0, DEL and C1), INVISIBLE (not the ASCII space),
 * a file name's bytes that are not UTF-8 (carried as lone surrogates U+DC80–U+DCFF, see
 * escapeInvalidUtf8) and the backslash itself, so that every escape reads back to one name
 * (`a\x01b` is the control character, `a\\x01b` the four characters, `n\u0085` the C1 control and
 * `n\x85` a byte that is not UTF-8).
 */
const UNPRINTABLE = new RegExp(String.raw`(?! )[\u0000-\u001f\u007f-\u009f\\${INVISIBLE}\u{dc80}-\u{dcff}]`, 'gu');

/**
 * Control, format and invisible characters as escapes — `\r`, `\t`, `\n`, `\\`, `\xNN` for the other
 * C0 controls, DEL and a file name's bytes that are not UTF-8, `\uNNNN` (`\u{NNNNN}` above U+FFFF) for
 * the rest — so that a key or file name printed cannot move the cursor back over the line (`a\rb`),
 * restyle or clear the terminal (an escape sequence), show itself reversed, or look like another name.
 * Every human line and message goes through here; JSON output through jsonText.
 */
export function escapeControls(text: string): string {
  return text.replace(UNPRINTABLE, (character) => {
    const code = character.codePointAt(0)!;
    if (code >= 0xdc80 && code <= 0xdcff) return `\\x${(code - 0xdc00).toString(16)}`;
    if (code <= 0x7f) return NAMED_CONTROLS[character] ?? `\\x${code.toString(16).padStart(2, '0')}`;
    return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * A value as JSON text with nothing unprintable left raw: JSON.stringify escapes C0 controls
 * (`\u001b`) and lone surrogates but leaves DEL, C1 and INVISIBLE as they are; they get the same
 * `\uNNNN` escapes (a pair of them above U+FFFF), which every JSON reader reads back as the character
 * itself. Outside strings JSON text is ASCII, so only names are touched.
 */
export function jsonText(value: unknown): string {
  return escapeJsonText(JSON.stringify(value));
}

/** What JSON text escapes beyond JSON.stringify: never C0, which a JSON string cannot hold raw, so that a log line's own ending stays; never the ASCII space. */
const JSON_UNPRINTABLE = new RegExp(String.raw`(?! )[\u007f-\u009f${INVISIBLE}]`, 'gu');

/** JSON text (a document, or a log line pino wrote, its line break included) with DEL, C1 and INVISIBLE as `\uNNNN` escapes. */
export function escapeJsonText(json: string): string {
  return json.replace(JSON_UNPRINTABLE, (character) => {
    let escaped = '';
    for (let index = 0; index < character.length; index += 1) escaped += `\\u${character.charCodeAt(index).toString(16).padStart(4, '0')}`;
    return escaped;
  });
}

/**
 * A document that lists failed items is a failure (exit 1): it carries an `error` too, as every failing
 * `--json` run does, naming how many failed and the first one's code and reason. `otherwise`: the
 * error of a failed run whose document lists no `failed` items (verify's `mismatched`, table check's
 * `problems`).
 */
function withFailureError(document: unknown, otherwise: JsonError | undefined): unknown {
  if (typeof document !== 'object' || document === null || 'error' in document) return document;
  // `failed` lists the items; a sync's `failed` is a count, its items are `errors`.
  const record = document as { failed?: unknown; errors?: unknown };
  const failed = Array.isArray(record.failed) ? record.failed : typeof record.failed === 'number' && record.failed > 0 && Array.isArray(record.errors) ? record.errors : undefined;
  if (!failed || failed.length === 0) return otherwise ? { ...document, error: otherwise } : document;
  // A count says how many failed; its errors[] may also hold what followed from them (deletions skipped).
  const count = typeof record.failed === 'number' ? record.failed : failed.length;
  const first = failed[0] as { key?: string; path?: string; name?: string; error?: unknown; code?: string };
  const reason = typeof first.error === 'string' ? first.error : typeof first.error === 'object' && first.error !== null ? String((first.error as { message?: unknown }).message ?? '') : '';
  return { ...document, error: failedItemsError(count, { name: first.key ?? first.path ?? first.name ?? '?', reason, code: first.code }) };
}

/** The `error` of a run whose items failed, each named on its own line: how many, and the first one's name, reason and code. */
export function failedItemsError(count: number, first: { name: string; reason: string; code?: string | undefined }): JsonError {
  return { code: first.code ?? 'failed', message: `${count} failed${count > 1 ? ', the first' : ''}: ${first.name}: ${first.reason}` };
}

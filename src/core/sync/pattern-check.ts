/**
 * sync/: an `--exclude`/`--include` pattern read into the globs picomatch compiles, or refused. The
 * glob is rclone's — `*`, `**`, `?`, `[…]`/`[!…]`, `{a,b}` and bash's ranges `{1..10}` — so that a
 * name holding `(`, `)`, `|` or a leading `!` is matched as written (`Photos (2019)/**`), where
 * picomatch alone would read a regular-expression group or a negation. Braces and ranges are expanded
 * here and each alternative compiled on its own, so `**` keeps its meaning next to a brace and
 * `{01..12}` is twelve names, not picomatch's class of characters. Refused: what no
 * relative name can match (names are files' paths under the root or the prefix: never `/` first or
 * last, never an empty or `.`/`..` folder name) — with `--delete` the files such a pattern was meant
 * to keep would be deleted — and what reads otherwise than it looks: an extglob, a backslash before
 * a letter or digit (a Windows path), a `,` outside braces (a list), a stray space at an end.
 * About 300 lines on purpose: the reading and each check follow the same syntax, side by side.
 * Imports picomatch only.
 */
import picomatch from 'picomatch';

/** What is wrong with a pattern (the words that follow it), and the pattern likely meant, or what to do. */
export interface PatternFault {
  problem: string;
  /** The problem is one alternative's (`{logs/,tmp/}`), not the whole pattern's. */
  inAlternative: boolean;
  suggestion: string | undefined;
  hint?: string;
}

/** Longer patterns are refused: one a person writes is a few dozen characters. */
export const MAX_PATTERN_LENGTH = 1024;
/** Beyond this many alternatives a pattern is refused: each is a glob of its own. */
export const MAX_ALTERNATIVES = 256;
/** Alternatives times the pattern's length: beyond it, compiling them all would take too long. */
const MAX_EXPANDED_LENGTH = 16 * 1024;

/**
 * picomatch's options for each alternative: no negation, no extglobs (refused before), dotfiles
 * matched, and POSIX classes, without which picomatch reads `[!…]` as `!` or the listed characters.
 */
export const GLOB_OPTIONS = { dot: true, nonegate: true, noextglob: true, posix: true } as const;

const EXTGLOB = new Set(['@', '!', '+', '*', '?']);
/** Blanks, and the invisible characters that come with a copy and paste: direction marks too, not emoji selectors or joiners. */
const STRAY_CHARACTERS = '\\s\\u00ad\\u180e\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060\\u2066-\\u2069\\ufeff';
const STRAY = new RegExp(`^[${STRAY_CHARACTERS}]$`, 'u');
/** Stray characters at the start, or at the end with a backslash that escaped one. */
const STRAY_ENDS = new RegExp(`^[${STRAY_CHARACTERS}]+|[${STRAY_CHARACTERS}\\\\]+$`, 'gu');
/** What a backslash may escape: the glob's own characters, matched as themselves. Before anything else it is a Windows path's. */
const ESCAPABLE = new Set(['*', '?', '[', ']', '{', '}', '(', ')', '!', ',', '\\', '/', ' ', '^', '$', '+', '@', '|', '#', '~']);
/** A brace range: numbers (`{01..12}`, `{1..10..2}`) or single letters (`{a..e}`). */
const RANGE = /^(?:(-?\d+)\.\.(-?\d+)|([A-Za-z])\.\.([A-Za-z]))(?:\.\.(-?\d+))?$/;
/** Characters picomatch reads as regular-expression syntax, matched as themselves here. */
const LITERAL = new Set(['(', ')', '|', '{', '}']);

/** One character of a pattern: a plain one, an escaped one (`\x`), or a class (`[…]`). */
type Unit = { kind: 'char' | 'escaped' | 'class'; text: string };

/** A pattern read into its pieces: units, and braces of alternatives. */
type Piece = Unit | { kind: 'group'; alternatives: Piece[][] };

/** Why an item of braces is refused. */
interface BraceFault {
  problem: string;
  hint: string;
}

/** The globs a pattern stands for (one per alternative of its braces, ranges included), or why it is refused. */
export function readPattern(pattern: string): { globs: string[]; fault?: undefined } | { fault: PatternFault } {
  const whole = (problem: string, suggestion?: string, hint?: string) => ({ fault: { problem, inAlternative: false, suggestion, ...(hint ? { hint } : {}) } });
  if (pattern.length > MAX_PATTERN_LENGTH) return whole(`is longer than ${MAX_PATTERN_LENGTH} characters`, undefined, 'write it as several rules');
  const chars = [...pattern];
  // An escaped space at the end (`\ `) is one too: names rarely end in spaces, stray ones in scripts often do.
  if (STRAY.test(chars[0]!) || STRAY.test(chars.at(-1)!)) {
    const trimmed = pattern.replace(STRAY_ENDS, '');
    const itself = trimmed === '' ? undefined : readPattern(trimmed).fault;
    return whole('starts or ends with a space (or an invisible character), so it would match only names that do', itself ? itself.suggestion : trimmed || undefined);
  }
  const closes = matchingBraces(chars);
  for (let at = 0; at < chars.length; at += 1) {
    const char = chars[at]!;
    if (char === '\\') {
      const next = chars[at + 1];
      if (next === undefined) return whole("ends in a lone '\\' (it escapes nothing), so it would match nothing", undefined, "remove it, or write '\\\\' to match a backslash");
      if (!ESCAPABLE.has(next)) return whole(`has '\\${next}', which escapes nothing in a glob (a Windows path? '/' separates folders)`, undefined, `write '${next}' as it is, '/' between folders, or '\\\\' to match a backslash`);
      at += 1;
    } else if (char === '[') {
      at = classEnd(chars, at) ?? at;
    } else if (EXTGLOB.has(char) && chars[at + 1] === '(') {
      return whole(`has '${char}(', an extglob, which is not taken`, undefined, "write '{a,b}' for alternatives, or '\\(' to match a parenthesis");
    } else if (char === '{' && !closes.has(at)) {
      return whole("has a '{' that is not closed, so it would match nothing", undefined, "close it, or write '\\{' to match the character itself");
    } else if (char === ',' && !insideBraces(at, closes)) {
      return whole("has a ',' outside braces: it is one pattern, not a list", undefined, "repeat the option for each pattern, or write '{a,b}'; '\\,' matches a comma");
    }
  }
  const pieces = readPieces(chars, closes, 0, chars.length);
  if (!Array.isArray(pieces)) return whole(pieces.problem, undefined, pieces.hint);
  const count = countAlternatives(pieces);
  if (count > MAX_ALTERNATIVES) return whole(`has more than ${MAX_ALTERNATIVES} alternatives`, undefined, 'write it as several rules');
  // Each alternative is compiled: bound the work, as picomatch's time grows with the length.
  if (count * chars.length > MAX_EXPANDED_LENGTH) return whole(`stands for ${count} alternatives of up to ${chars.length} characters: more than datalake reads`, undefined, 'write it as several shorter rules');
  const plain = !pieces.some((piece) => piece.kind === 'group');
  const globs: string[] = [];
  for (const alternative of expand(pieces)) {
    // picomatch drops a leading './' from what it compiles: from each alternative, each compiled alone.
    const units = startingAfterDotSlash(alternative);
    const fault = alternativeFault(units);
    if (fault) {
      if (!plain) return { fault: { problem: `one of its alternatives ${fault}`, inAlternative: true, suggestion: undefined } };
      const suggestion = suggestionFor(units);
      const usable = suggestion !== undefined && suggestion !== pattern && readPattern(suggestion).fault === undefined;
      return whole(fault, usable ? suggestion : undefined);
    }
    const glob = alternative.map(render).join('');
    if (picomatch.makeRe(glob, { ...GLOB_OPTIONS, basename: !glob.includes('/') }).source === '$^') {
      return whole('cannot be read as a glob (a class such as [a-Z] that is not valid), so it would match nothing', undefined, 'check its brackets, or write \\[ to match the character itself');
    }
    globs.push(glob);
  }
  return { globs };
}

/** What is wrong with one alternative, and what follows from it; undefined if nothing. */
function alternativeFault(units: Unit[]): string | undefined {
  const nothing = ', so it would match nothing';
  if (units.length === 0) return `is empty${nothing}`;
  if (isSlash(units.at(-1)!)) return `ends in '/', naming a folder (patterns match files)${nothing}`;
  if (isSlash(units[0]!)) return `starts with '/' (names are relative to the tree's root or the prefix)${nothing}`;
  const segments = segmentsOf(units, 'name');
  if (segments.slice(0, -1).some((segment) => segment === '')) return `has an empty folder name ('//')${nothing}`;
  if (segments.some((segment) => segment === '.' || segment === '..')) return `has a '.' or '..' folder name (names hold none)${nothing}`;
  // picomatch reads '**' as any depth only as a whole folder name: inside one it is '*', one level.
  const written = segmentsOf(units, 'raw');
  if (written.some((segment) => segment !== '**' && /(?:^|[^\\])\*\*/.test(segment))) return "has '**' inside a folder name, where it matches within one folder only, not at any depth (write it as a whole folder name: 'logs/**/*.gz')";
  return undefined;
}

/**
 * What was likely meant by a pattern of no alternatives: without a leading '/', empty or '.' folder
 * names; a folder's everything for one naming a folder. One left without a '/' starts with './', so
 * that it still matches at the root only, not a base name at any depth. Escapes are kept.
 */
function suggestionFor(units: Unit[]): string | undefined {
  const raw = segmentsOf(units, 'raw');
  const names = segmentsOf(units, 'name');
  const kept = raw.filter((_, index) => names[index] !== '.' && (names[index] !== '' || index === names.length - 1));
  if (names.includes('..') || kept.every((segment) => segment === '')) return undefined;
  // A last folder name empty or '.' (`logs/`, `logs/.`): the folder's everything, unless it ends in `**` already.
  const folder = names.at(-1) === '' || names.at(-1) === '.';
  const parts = kept.filter((segment) => segment !== '');
  const named = folder && parts.at(-1) !== '**' ? [...parts, '**'] : parts;
  // Everything is no likely meaning of a pattern refused.
  if (named.every((part) => part === '**')) return undefined;
  return named.length === 1 ? `./${named[0]}` : named.join('/');
}

/** A '/', escaped or not, or a class of nothing else (`[/]`): what separates folder names. */
function isSlash(unit: Unit): boolean {
  if (unit.kind === 'class') return /^\[(?:\\?\/)+\]$/.test(unit.text);
  return unit.text === '/' || unit.text === '\\/';
}

function startingAfterDotSlash(units: Unit[]): Unit[] {
  let at = 0;
  while (units[at]?.kind === 'char' && units[at]!.text === '.' && units[at + 1]?.kind === 'char' && units[at + 1]!.text === '/') at += 2;
  return units.slice(at);
}

/** The folder names of an alternative: as names hold them (escapes undone), or as written. */
function segmentsOf(units: Unit[], as: 'name' | 'raw'): string[] {
  const segments: string[] = [''];
  for (const unit of units) {
    if (isSlash(unit)) segments.push('');
    else segments[segments.length - 1] += as === 'name' && unit.kind === 'escaped' ? unit.text.slice(1) : as === 'raw' ? render(unit) : unit.text;
  }
  return segments;
}

/** A unit as picomatch is given it: `(`, `)` and `|` escaped, to be matched as themselves. */
function render(unit: Unit): string {
  return unit.kind === 'char' && LITERAL.has(unit.text) ? `\\${unit.text}` : unit.text;
}

/** For each `{`, the index of the `}` that closes it, found in one pass with a stack; escapes and classes skipped. */
function matchingBraces(chars: string[]): Map<number, number> {
  const closes = new Map<number, number>();
  const open: number[] = [];
  for (let at = 0; at < chars.length; at += 1) {
    const char = chars[at]!;
    if (char === '\\') at += 1;
    else if (char === '[') at = classEnd(chars, at) ?? at;
    else if (char === '{') open.push(at);
    else if (char === '}' && open.length > 0) closes.set(open.pop()!, at);
  }
  return closes;
}

function insideBraces(at: number, closes: Map<number, number>): boolean {
  for (const [open, close] of closes) if (open < at && at < close) return true;
  return false;
}

/**
 * Reads `chars[from, to)` into pieces: braces split at their own level's commas, a range (alone, or
 * as one alternative of a list: `{{1..3},5}`, `{1..3,5}`) expanded, a brace of one item read as that
 * item, as rclone reads it (`*.{parquet}`). An item with '..' that is no range
 * (`{2024-01-01..2024-01-31}`), or with a space at an end, is returned as the fault to refuse it with.
 */
function readPieces(chars: string[], closes: Map<number, number>, from: number, to: number): Piece[] | BraceFault {
  const pieces: Piece[] = [];
  for (let at = from; at < to; ) {
    const char = chars[at]!;
    if (char === '\\' && at + 1 < to) {
      pieces.push({ kind: 'escaped', text: `\\${chars[at + 1]}` });
      at += 2;
      continue;
    }
    if (char === '[') {
      const end = classEnd(chars, at);
      if (end !== undefined && end < to) {
        pieces.push({ kind: 'class', text: chars.slice(at, end + 1).join('') });
        at = end + 1;
        continue;
      }
    }
    const close = char === '{' ? closes.get(at) : undefined;
    if (close !== undefined && close < to) {
      const alternatives: Piece[][] = [];
      for (const [a, b] of splitAlternatives(chars, closes, at + 1, close)) {
        const item = chars.slice(a, b).join('');
        // A range is expanded here: picomatch would make '{01..12}' a class of characters.
        const values = rangeValues(item);
        if (!values && !item.includes('{') && item.includes('..')) return { problem: `has '${item}' in braces, which is no range datalake can expand (numbers or single letters: '{1..31}', '{01..12}', '{a..e}'), so it would match nothing`, hint: "write the values as alternatives ({a,b,c}), or '[.][.]' to match two dots" };
        // An item with a space at an end: '*.{csv, json}' would match '*. json' (a space typed after the comma).
        if (b > a && (STRAY.test(chars[a]!) || STRAY.test(chars[b - 1]!))) return { problem: `has '${item}' in braces, which starts or ends with a space (or an invisible character), so it would match only names that do`, hint: "write the alternatives without spaces around them ({csv,json}); '[ ]' matches a real one" };
        const alternative = values ? [valuesGroup(values)] : readPieces(chars, closes, a, b);
        if (!Array.isArray(alternative)) return alternative;
        alternatives.push(alternative);
      }
      pieces.push({ kind: 'group', alternatives });
      at = close + 1;
      continue;
    }
    pieces.push({ kind: 'char', text: char });
    at += 1;
  }
  return pieces;
}

/** A range's values as a group of alternatives, each its characters as written. */
function valuesGroup(values: string[]): Piece {
  return { kind: 'group', alternatives: values.map((value) => [...value].map((text) => ({ kind: 'char' as const, text }))) };
}

/** The ranges of a brace's alternatives between `from` and `to`, split at commas outside nested braces and classes. */
function splitAlternatives(chars: string[], closes: Map<number, number>, from: number, to: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let begin = from;
  for (let at = from; at < to; at += 1) {
    const char = chars[at]!;
    if (char === '\\') at += 1;
    else if (char === '[') at = Math.min(classEnd(chars, at) ?? at, to);
    else if (char === '{' && closes.has(at)) at = closes.get(at)!;
    else if (char === ',') {
      ranges.push([begin, at]);
      begin = at + 1;
    }
  }
  ranges.push([begin, to]);
  return ranges;
}

/**
 * The values of a brace range as bash gives them, or undefined if `text` is none: numbers padded with
 * zeros to the wider end when an end is written with them, a step (`..2`), letters. At most one past
 * MAX_ALTERNATIVES values are made: the count refuses more.
 */
function rangeValues(text: string): string[] | undefined {
  const parts = RANGE.exec(text);
  if (!parts) return undefined;
  const [, fromNumber, toNumber, fromLetter, toLetter, stepText] = parts;
  const step = Math.max(1, Math.abs(Number(stepText ?? 1))) || 1;
  const numeric = fromNumber !== undefined;
  const from = numeric ? Number(fromNumber) : fromLetter!.charCodeAt(0);
  const to = numeric ? Number(toNumber) : toLetter!.charCodeAt(0);
  const padded = numeric && [fromNumber!, toNumber!].some((end) => /^-?0\d/.test(end));
  const width = padded ? Math.max(fromNumber!.replace('-', '').length, toNumber!.replace('-', '').length) : 0;
  const values: string[] = [];
  for (let value = from; from <= to ? value <= to : value >= to; value += from <= to ? step : -step) {
    if (!numeric) values.push(String.fromCharCode(value));
    else values.push(value < 0 ? `-${String(-value).padStart(width, '0')}` : String(value).padStart(width, '0'));
    if (values.length > MAX_ALTERNATIVES) break;
  }
  return values;
}

/** Where the class opening at `start` closes: its `]`, which may come first as a member (`[]a]`, `[!]a]`). */
function classEnd(chars: string[], start: number): number | undefined {
  let at = start + 1;
  if (chars[at] === '!' || chars[at] === '^') at += 1;
  if (chars[at] === ']') at += 1;
  for (; at < chars.length; at += 1) {
    if (chars[at] === '\\') at += 1;
    else if (chars[at] === ']') return at;
  }
  return undefined;
}

/** How many alternatives the pieces stand for, counted without making them (capped just past the limit). */
function countAlternatives(pieces: Piece[]): number {
  let count = 1;
  for (const piece of pieces) {
    if (piece.kind !== 'group') continue;
    const options = piece.alternatives.reduce((sum, alternative) => Math.min(sum + countAlternatives(alternative), MAX_ALTERNATIVES + 1), 0);
    count = Math.min(count * options, MAX_ALTERNATIVES + 1);
  }
  return count;
}

/** Every alternative the pieces stand for, as units (their number is counted and bounded first). */
function expand(pieces: Piece[]): Unit[][] {
  let results: Unit[][] = [[]];
  for (const piece of pieces) {
    if (piece.kind !== 'group') {
      for (const result of results) result.push(piece);
      continue;
    }
    const options = piece.alternatives.flatMap(expand);
    results = results.flatMap((result) => options.map((option) => [...result, ...option]));
  }
  return results;
}

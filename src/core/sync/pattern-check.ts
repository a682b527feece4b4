/**
 * sync/: the `--exclude`/`--include` patterns that no relative name can match. Names are files'
 * paths under the tree's root or the prefix (`logs/app.log`): never `/` first, never an empty or
 * `.`/`..` folder name, never `/` last. A pattern that cannot match — of such a shape, one picomatch
 * cannot read (an unclosed `{`), or one with a stray space at an end — would leave out nothing, and
 * with `--delete` the files it was meant to keep would be deleted: so it is refused before anything
 * runs. Each alternative of braces (`{a,b}`) and extglobs (`@(a|b)`, `!(…)`, `(a|b)`…) is looked at,
 * as picomatch would match it. Imports picomatch only.
 */
import picomatch from 'picomatch';

/** What is wrong with a pattern (the words that follow it), and the pattern likely meant. */
export interface PatternFault {
  problem: string;
  /** The problem is one alternative's (`{logs/,tmp/}`), not the whole pattern's. */
  inAlternative: boolean;
  suggestion: string | undefined;
  /** What to do, where no pattern can be suggested. */
  hint?: string;
}

/** Longer patterns are refused: one a person writes is a few dozen characters. */
export const MAX_PATTERN_LENGTH = 1024;
/** Beyond this many alternatives a pattern is refused rather than looked at. */
const MAX_ALTERNATIVES = 4096;

const EXTGLOB = new Set(['@', '!', '+', '*', '?']);
const BLANK = /^[\s\p{Default_Ignorable_Code_Point}]$/u;

/** One character of a pattern as picomatch reads it: a plain one, an escaped one (`\x`), or a class (`[…]`). */
type Unit = { kind: 'char' | 'escaped' | 'class'; text: string };

/** A pattern read into its pieces: units, and groups of alternatives. */
type Piece = Unit | { kind: 'group'; alternatives: Piece[][] };

export function patternFault(pattern: string, basename: boolean): PatternFault | undefined {
  const whole = (problem: string, suggestion?: string, hint?: string): PatternFault => ({ problem, inAlternative: false, suggestion, ...(hint ? { hint } : {}) });
  if (pattern.length > MAX_PATTERN_LENGTH) return whole(`is longer than ${MAX_PATTERN_LENGTH} characters`, undefined, 'write it as several rules');
  const chars = [...pattern];
  if (isBlankChar(chars[0]!) || isBlankChar(chars.at(-1)!)) {
    // An escaped space at the end (`\ `) is one too: names rarely end in spaces, stray ones in scripts often do.
    const trimmed = pattern.replace(/^[\s\p{Default_Ignorable_Code_Point}]+|[\s\p{Default_Ignorable_Code_Point}\\]+$/gu, '');
    const itself = trimmed === '' ? undefined : patternFault(trimmed, !trimmed.includes('/'));
    return whole('starts or ends with a space (or an invisible character), so it would match only names that do', itself ? itself.suggestion : trimmed || undefined);
  }
  if (/(?:^|[^\\])(?:\\\\)*\\$/.test(pattern)) return whole("ends in a lone '\\' (it escapes nothing), so it would match nothing", undefined, "remove it, or write '\\\\' to match a backslash");
  if (picomatch.makeRe(pattern, { dot: true, basename }).source === '$^') {
    return whole("cannot be read as a glob (a '{' or '(' that is not closed), so it would match nothing", undefined, "close it, or write '\\{' or '\\(' to match the character itself");
  }
  // picomatch drops a leading './' from the whole pattern, never from inside a group.
  let start = 0;
  while (chars[start] === '.' && chars[start + 1] === '/') start += 2;
  const units = chars.slice(start);
  const pieces = readPieces(units, matchingCloses(units), 0, units.length);
  const count = countAlternatives(pieces);
  if (count > MAX_ALTERNATIVES) return whole(`has more than ${MAX_ALTERNATIVES} alternatives`, undefined, 'write it as several rules');
  const plain = !pieces.some((piece) => piece.kind === 'group');
  for (const alternative of expand(pieces)) {
    const fault = alternativeFault(alternative);
    if (!fault) continue;
    if (!plain) return { problem: `one of its alternatives ${fault}, so that part would match nothing`, inAlternative: true, suggestion: undefined };
    const suggestion = suggestionFor(alternative);
    const usable = suggestion !== undefined && suggestion !== pattern && patternFault(suggestion, !suggestion.includes('/')) === undefined;
    return whole(`${fault}, so it would match nothing`, usable ? suggestion : undefined);
  }
  return undefined;
}

function alternativeFault(units: Unit[]): string | undefined {
  const last = units.at(-1);
  if (last?.kind === 'char' && last.text === '\\') return "ends in a lone '\\'";
  const trimmed = withoutTrailingBlanks(units);
  if (trimmed.length > 0 && isSlash(trimmed.at(-1)!)) return trimmed.length < units.length ? "has only spaces after its last '/', naming a folder (patterns match files)" : "ends in '/', naming a folder (patterns match files)";
  if (units.length > 0 && isSlash(units[0]!)) return "starts with '/' (names are relative to the tree's root or the prefix)";
  const segments = segmentsOf(units);
  if (segments.slice(0, -1).some((segment) => segment === '')) return "has an empty folder name ('//')";
  if (segments.some((segment) => segment === '.' || segment === '..')) return "has a '.' or '..' folder name (names hold none)";
  return undefined;
}

/**
 * What was likely meant by a pattern of no alternatives: without a leading '/', empty or '.' folder
 * names and trailing spaces; a folder's everything for one naming a folder. One left without a '/'
 * starts with './', so that it still matches at the root only, not a base name at any depth.
 */
function suggestionFor(units: Unit[]): string | undefined {
  const segments = segmentsOf(withoutTrailingBlanks(units));
  const kept = segments.filter((segment, index) => segment !== '.' && (segment !== '' || index === segments.length - 1));
  if (kept.includes('..') || kept.every((segment) => segment === '')) return undefined;
  // A last folder name empty or '.' (`logs/`, `logs/.`): the folder's everything.
  const named = kept.at(-1) === '' || segments.at(-1) === '.' ? [...kept.filter((segment) => segment !== ''), '**'] : kept;
  return named.length === 1 ? `./${named[0]}` : named.join('/');
}

/** A '/', escaped or not, or a class of nothing else (`[/]`): what separates folder names. */
function isSlash(unit: Unit): boolean {
  if (unit.kind === 'class') return /^\[(?:\\?\/)+\]$/.test(unit.text);
  return unit.text === '/' || (unit.kind === 'escaped' && unit.text === '\\/');
}

function isBlankChar(char: string): boolean {
  return BLANK.test(char);
}

function withoutTrailingBlanks(units: Unit[]): Unit[] {
  let end = units.length;
  while (end > 0 && units[end - 1]!.kind !== 'class' && isBlankChar(units[end - 1]!.text.replace(/^\\/, ''))) end -= 1;
  return units.slice(0, end);
}

function segmentsOf(units: Unit[]): string[] {
  const segments: string[] = [''];
  for (const unit of units) {
    if (isSlash(unit)) segments.push('');
    else segments[segments.length - 1] += unit.kind === 'escaped' ? unit.text.slice(1) : unit.text;
  }
  return segments;
}

/**
 * For each `{` and `(` (index into `chars`), the index of the `}` or `)` that closes it, found in one
 * pass with a stack; escapes and classes skipped. One never closed has none, and is a character.
 */
function matchingCloses(chars: string[]): Map<number, number> {
  const closes = new Map<number, number>();
  const open: number[] = [];
  for (let at = 0; at < chars.length; at += 1) {
    const char = chars[at]!;
    if (char === '\\') at += 1;
    else if (char === '[') at = classEnd(chars, at) ?? at;
    else if (char === '{' || char === '(') open.push(at);
    else if ((char === '}' || char === ')') && open.length > 0 && chars[open.at(-1)!] === (char === '}' ? '{' : '(')) closes.set(open.pop()!, at);
  }
  return closes;
}

/** Reads `chars[from, to)` into pieces; a group's alternatives are split at its own level's `,` or `|`. */
function readPieces(chars: string[], closes: Map<number, number>, from: number, to: number): Piece[] {
  const pieces: Piece[] = [];
  for (let at = from; at < to; ) {
    const char = chars[at]!;
    if (char === '\\') {
      pieces.push(at + 1 < to ? { kind: 'escaped', text: `\\${chars[at + 1]}` } : { kind: 'char', text: '\\' });
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
    const opener = EXTGLOB.has(char) && chars[at + 1] === '(' ? at + 1 : char === '{' || char === '(' ? at : undefined;
    const close = opener === undefined ? undefined : closes.get(opener);
    if (opener !== undefined && close !== undefined && close < to) {
      const alternatives = splitAlternatives(chars, closes, opener + 1, close, chars[opener] === '{' ? ',' : '|').map(([a, b]) => readPieces(chars, closes, a, b));
      // A brace with no comma at its level (`{a}`, `{}`, `{1..3}`) is its characters, as picomatch reads it.
      if (chars[opener] === '(' || alternatives.length > 1) {
        pieces.push({ kind: 'group', alternatives });
        at = close + 1;
        continue;
      }
    }
    pieces.push({ kind: 'char', text: char });
    at += 1;
  }
  return pieces;
}

/** The ranges of a group's alternatives between `from` and `to`, split at `separator` outside nested groups and classes. */
function splitAlternatives(chars: string[], closes: Map<number, number>, from: number, to: number, separator: string): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let begin = from;
  for (let at = from; at < to; at += 1) {
    const char = chars[at]!;
    if (char === '\\') at += 1;
    else if (char === '[') at = Math.min(classEnd(chars, at) ?? at, to);
    else if ((char === '{' || char === '(') && closes.has(at)) at = closes.get(at)!;
    else if (char === separator) {
      ranges.push([begin, at]);
      begin = at + 1;
    }
  }
  ranges.push([begin, to]);
  return ranges;
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

/**
 * sync/: the shapes of an `--exclude`/`--include` pattern that no relative name can match. Names are
 * files' paths under the tree's root or the prefix (`logs/app.log`): never `/` first, never an empty
 * or `.`/`..` folder name, never `/` last. A pattern of such a shape matches nothing, and with
 * `--delete` the files it was meant to keep would be deleted: so it is refused before anything runs.
 * Each alternative of the pattern is looked at (`{a,b}`, `@(a|b)` and the other extglobs, nested),
 * as picomatch would match it. Imports nothing of the project.
 */

/** What is wrong with `pattern` (the words after it), and a pattern that does what was likely meant. */
export interface PatternFault {
  problem: string;
  /** The problem is one alternative's (`{logs/,tmp/}`), not the whole pattern's. */
  inAlternative: boolean;
  suggestion: string | undefined;
}

/** One character of a pattern as picomatch reads it: a plain one, an escaped one (`\x`), or a class (`[…]`). */
type Unit = { kind: 'char' | 'escaped' | 'class'; text: string };

/** A pattern read into its pieces: units, and groups of alternatives. */
type Piece = Unit | { kind: 'group'; alternatives: Piece[][] };

/** Beyond this many alternatives a pattern is refused rather than looked at (a pattern a person writes has a few). */
const MAX_ALTERNATIVES = 4096;

const EXTGLOB = new Set(['@', '!', '+', '*', '?']);
const BLANK = /^[\s\p{Default_Ignorable_Code_Point}]$/u;

export function patternFault(pattern: string): PatternFault | undefined {
  const { pieces } = readSequence(pattern, 0, '');
  const alternatives = expand(pieces);
  if (alternatives === undefined) return { problem: `has more than ${MAX_ALTERNATIVES} alternatives: write it as several rules`, inAlternative: false, suggestion: undefined };
  const plain = !pieces.some((piece) => piece.kind === 'group');
  for (const units of alternatives) {
    const fault = alternativeFault(units);
    if (!fault) continue;
    if (!plain) return { problem: `one of its alternatives ${fault}, so that part would match nothing`, inAlternative: true, suggestion: undefined };
    const suggestion = suggestionFor(units);
    return { problem: `${fault}, so it would match nothing`, inAlternative: false, suggestion: suggestion !== undefined && suggestion !== pattern && patternFault(suggestion) === undefined ? suggestion : undefined };
  }
  return undefined;
}

function alternativeFault(units: Unit[]): string | undefined {
  const last = units.at(-1);
  if (last?.kind === 'char' && last.text === '\\') return "ends in a lone '\\'";
  const trimmed = withoutTrailingBlanks(units);
  if (trimmed.length > 0 && isSlash(trimmed.at(-1)!)) return trimmed.length < units.length ? "has only spaces after its last '/', naming a folder (patterns match files)" : "ends in '/', naming a folder (patterns match files)";
  if (units.length > 0 && isSlash(units[0]!)) return "starts with '/' (names are relative to the tree's root or the prefix)";
  const segments = segmentsOf(startingAfterDotSlash(units));
  if (segments.slice(0, -1).some((segment) => segment === '')) return "has an empty folder name ('//')";
  if (segments.some((segment) => segment === '.' || segment === '..')) return "has a '.' or '..' folder name (names hold none)";
  return undefined;
}

/** What was likely meant by a pattern of no alternatives: without a leading '/', empty or '.' folder names and trailing spaces, a folder's everything. */
function suggestionFor(units: Unit[]): string | undefined {
  const segments = segmentsOf(startingAfterDotSlash(withoutTrailingBlanks(units)));
  const kept = segments.filter((segment, index) => segment !== '.' && (segment !== '' || index === segments.length - 1));
  if (kept.includes('..') || kept.every((segment) => segment === '')) return undefined;
  // A last folder name empty or '.' (`logs/`, `logs/.`): the folder's everything.
  const named = kept.at(-1) === '' || segments.at(-1) === '.' ? [...kept.filter((segment) => segment !== ''), '**'] : kept;
  return named.join('/');
}

/** A '/', escaped or not, or a class of nothing else (`[/]`): what separates folder names. */
function isSlash(unit: Unit): boolean {
  if (unit.kind === 'class') return /^\[(?:\\?\/)+\]$/.test(unit.text);
  return unit.text === '/' || (unit.kind === 'escaped' && unit.text === '\\/');
}

function withoutTrailingBlanks(units: Unit[]): Unit[] {
  let end = units.length;
  while (end > 0 && isBlank(units[end - 1]!)) end -= 1;
  return units.slice(0, end);
}

function isBlank(unit: Unit): boolean {
  if (unit.kind === 'class') return false;
  return BLANK.test(unit.kind === 'escaped' ? unit.text.slice(1) : unit.text);
}

function startingAfterDotSlash(units: Unit[]): Unit[] {
  let at = 0;
  while (units[at]?.text === '.' && units[at + 1] !== undefined && isSlash(units[at + 1]!)) at += 2;
  return units.slice(at);
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
 * Reads `pattern` from `at` up to one of the `stops` characters at this level (not inside a class, an
 * escape or a nested group), into pieces.
 */
function readSequence(pattern: string, at: number, stops: string): { pieces: Piece[]; end: number } {
  const pieces: Piece[] = [];
  const chars = [...pattern.slice(at)];
  // Work on code points, keeping the index into `pattern` in step.
  let index = at;
  for (let position = 0; position < chars.length; ) {
    const char = chars[position]!;
    if (stops.includes(char)) return { pieces, end: index };
    if (char === '\\') {
      const next = chars[position + 1];
      if (next === undefined) {
        pieces.push({ kind: 'char', text: '\\' });
        index += 1;
        position += 1;
      } else {
        pieces.push({ kind: 'escaped', text: `\\${next}` });
        index += 1 + next.length;
        position += 2;
      }
      continue;
    }
    if (char === '[') {
      const close = classEnd(chars, position);
      if (close !== undefined) {
        const text = chars.slice(position, close + 1).join('');
        pieces.push({ kind: 'class', text });
        index += text.length;
        position = close + 1;
        continue;
      }
    }
    const opensExtglob = EXTGLOB.has(char) && chars[position + 1] === '(';
    if (char === '{' || char === '(' || opensExtglob) {
      const open = opensExtglob ? position + 1 : position;
      const group = readGroup(pattern, index + (opensExtglob ? char.length : 0), chars[open] === '{' ? ',' : '|', chars[open] === '{' ? '}' : ')');
      if (group && (chars[open] === '(' || group.alternatives.length > 1)) {
        pieces.push({ kind: 'group', alternatives: group.alternatives });
        const consumed = [...pattern.slice(index, group.end + 1)].length;
        index = group.end + 1;
        position += consumed;
        continue;
      }
      // A brace with no comma at its level (`{a}`, `{}`, `{1..3}`) is read as its characters, as picomatch reads it.
    }
    pieces.push({ kind: 'char', text: char });
    index += char.length;
    position += 1;
  }
  return { pieces, end: index };
}

/** The alternatives of a group opening at `at` (its `{` or `(`), split at `separator` up to `close`; undefined if it never closes. */
function readGroup(pattern: string, at: number, separator: string, close: string): { alternatives: Piece[][]; end: number } | undefined {
  const alternatives: Piece[][] = [];
  let from = at + 1;
  for (;;) {
    const { pieces, end } = readSequence(pattern, from, `${separator}${close}`);
    if (end >= pattern.length) return undefined;
    alternatives.push(pieces);
    if (pattern[end] === close) return { alternatives, end };
    from = end + 1;
  }
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

/** Every alternative the pieces stand for, as units; undefined past MAX_ALTERNATIVES. */
function expand(pieces: Piece[]): Unit[][] | undefined {
  let results: Unit[][] = [[]];
  for (const piece of pieces) {
    if (piece.kind !== 'group') {
      for (const result of results) result.push(piece);
      continue;
    }
    const options: Unit[][] = [];
    for (const alternative of piece.alternatives) {
      const expanded = expand(alternative);
      if (expanded === undefined) return undefined;
      options.push(...expanded);
    }
    if (results.length * options.length > MAX_ALTERNATIVES) return undefined;
    results = results.flatMap((result) => options.map((option) => [...result, ...option]));
  }
  return results;
}

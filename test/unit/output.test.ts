import { describe, expect, it } from 'vitest';
import { escapeControls, joinedLines, jsonText, oneLine } from '../../src/cli/output.js';

describe('names in printed lines', () => {
  it('control characters are escaped, everything else is kept', () => {
    expect(escapeControls('a\rb\tc\u001b[2Jd\u007fe\u009bf')).toBe('a\\rb\\tc\\x1b[2Jd\\x7fe\\x9bf');
    expect(escapeControls('données/été 2026 ✓ \\ "q"')).toBe('données/été 2026 ✓ \\ "q"');
  });

  it('bidirectional controls are escaped too (a name that would show reversed); other characters above U+009F are kept', () => {
    expect(escapeControls('invoice\u202eFDP.exe \u2066a\u2069 \u200e\u200f\u061c')).toBe('invoice\\u202eFDP.exe \\u2066a\\u2069 \\u200e\\u200f\\u061c');
    expect(escapeControls('nbsp\u00a0 zwj\u200d 日本')).toBe('nbsp\u00a0 zwj\u200d 日本');
  });

  it('JSON text escapes DEL, C1 and bidirectional controls as \\u escapes, and reads back the same', () => {
    const value = { key: 'a\u001b\u007f\u0085\u009b\u202e\u2066é', n: 1 };
    const text = jsonText(value);
    expect(text).toBe('{"key":"a\\u001b\\u007f\\u0085\\u009b\\u202e\\u2066é","n":1}');
    expect(JSON.parse(text)).toEqual(value);
  });

  it('a message is one line: line breaks that lay it out become spaces, a carriage return cannot rewind it', () => {
    expect(oneLine('failed:\n  over\rwrite')).toBe('failed: over\\rwrite');
    expect(oneLine('Deserialization failed\n  Deserialization error: see $response\n')).toBe('Deserialization failed Deserialization error: see $response');
  });

  it("a line break inside a name is escaped, as ls and the name of a failure line show it, not made a space", () => {
    expect(oneLine("the copy s3://lake/h/new\nline.csv did not verify")).toBe('the copy s3://lake/h/new\\nline.csv did not verify');
    expect(joinedLines("error: unknown option '--x'\n(Did you mean --y?)")).toBe("error: unknown option '--x' (Did you mean --y?)");
  });
});

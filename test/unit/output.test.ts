import { describe, expect, it } from 'vitest';
import { escapeControls, escapeJsonText, joinedLines, jsonText, oneLine } from '../../src/cli/output.js';

describe('names in printed lines', () => {
  it('control characters are escaped, everything else is kept', () => {
    expect(escapeControls('a\rb\tc\u001b[2Jd\u007fe\u009bf')).toBe('a\\rb\\tc\\x1b[2Jd\\x7fe\\u009bf');
    expect(escapeControls('données/été 2026 ✓ "q" 💩')).toBe('données/été 2026 ✓ "q" 💩');
  });

  it('every escape reads back to one name: a backslash is escaped itself, so a control character and its escape written out differ', () => {
    expect(escapeControls('c01-\u0001x')).toBe('c01-\\x01x');
    expect(escapeControls('c01-\\x01x')).toBe('c01-\\\\x01x');
    expect(escapeControls('a\\rb')).not.toBe(escapeControls('a\rb'));
  });

  it("a file name's bytes that are not UTF-8 (lone surrogates, as escapeInvalidUtf8 carries them) print as \\xNN, unlike the same text written out", () => {
    expect(escapeControls('bad\udcff.txt')).toBe('bad\\xff.txt');
    expect(escapeControls('bad\\xff.txt')).toBe('bad\\\\xff.txt');
    expect(jsonText({ name: 'bad\udcff' })).toBe('{"name":"bad\\udcff"}');
    expect(jsonText({ name: 'bad\\xff' })).toBe('{"name":"bad\\\\xff"}');
  });

  it('invisible characters and line separators are escaped, in lines and in JSON: two names never print alike', () => {
    expect(escapeControls('a\u200bb\ufeffc\u2028d\u2029e\u2060f')).toBe('a\\u200bb\\ufeffc\\u2028d\\u2029e\\u2060f');
    const value = { key: 'a\u200b\u2028\ufeff' };
    expect(jsonText(value)).toBe('{"key":"a\\u200b\\u2028\\ufeff"}');
    expect(JSON.parse(jsonText(value))).toEqual(value);
  });

  it('a C1 control and a byte that is not UTF-8 print apart; every format character and every space but the ASCII one is escaped', () => {
    expect(escapeControls('n\u0085')).toBe('n\\u0085');
    expect(escapeControls('n\udc85')).toBe('n\\x85');
    expect(escapeControls('a\u00a0b a\u200cb a\u200db soft\u00adx')).toBe('a\\u00a0b a\\u200cb a\\u200db soft\\u00adx');
    expect(escapeControls('tag\u{e0041}')).toBe('tag\\u{e0041}');
    const value = { key: 'tag\u{e0041}\u00a0\u200d' };
    expect(jsonText(value)).toBe('{"key":"tag\\udb40\\udc41\\u00a0\\u200d"}');
    expect(JSON.parse(jsonText(value))).toEqual(value);
  });

  it('characters shown as nothing or as a blank are escaped: names that differ by them never print alike', () => {
    expect(escapeControls('k/a\u034fb k/a\ufe0fb k/\u3164 k/\u115f k/\u2800 k/\uffa0')).toBe('k/a\\u034fb k/a\\ufe0fb k/\\u3164 k/\\u115f k/\\u2800 k/\\uffa0');
    const value = { key: 'k/a\u034fb\u3164\u2800' };
    expect(jsonText(value)).toBe('{"key":"k/a\\u034fb\\u3164\\u2800"}');
    expect(JSON.parse(jsonText(value))).toEqual(value);
    // Letters, marks and symbols that show are left as they are.
    expect(escapeControls('café naïve 日本 ✓')).toBe('café naïve 日本 ✓');
  });

  it("a log line keeps its own line break: only what is inside the record's strings is escaped", () => {
    expect(escapeJsonText('{"msg":"x\u0085"}\n')).toBe('{"msg":"x\\u0085"}\n');
  });

  it('bidirectional controls are escaped too (a name that would show reversed); other characters above U+009F are kept', () => {
    expect(escapeControls('invoice\u202eFDP.exe \u2066a\u2069 \u200e\u200f\u061c')).toBe('invoice\\u202eFDP.exe \\u2066a\\u2069 \\u200e\\u200f\\u061c');
    expect(escapeControls('日本 été 💩')).toBe('日本 été 💩');
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

import { describe, expect, it } from 'vitest';
import { escapeControls, joinedLines, oneLine } from '../../src/cli/output.js';

describe('names in printed lines', () => {
  it('control characters are escaped, everything else is kept', () => {
    expect(escapeControls('a\rb\tc\u001b[2Jd\u007fe\u009bf')).toBe('a\\rb\\tc\\x1b[2Jd\\x7fe\\x9bf');
    expect(escapeControls('données/été 2026 ✓ \\ "q"')).toBe('données/été 2026 ✓ \\ "q"');
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

import { describe, expect, it } from 'vitest';
import { escapeControls, oneLine } from '../../src/cli/output.js';

describe('names in printed lines', () => {
  it('control characters are escaped, everything else is kept', () => {
    expect(escapeControls('a\rb\tc\u001b[2Jd\u007fe\u009bf')).toBe('a\\rb\\tc\\x1b[2Jd\\x7fe\\x9bf');
    expect(escapeControls('données/été 2026 ✓ \\ "q"')).toBe('données/été 2026 ✓ \\ "q"');
  });

  it('a message is one line: line breaks become spaces, a carriage return cannot rewind it', () => {
    expect(oneLine('failed:\n  over\rwrite')).toBe('failed: over\\rwrite');
  });
});

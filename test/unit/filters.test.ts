import { describe, expect, it } from 'vitest';
import { buildNameFilter } from '../../src/core/sync/filters.js';

describe('--exclude/--include', () => {
  it('the last matching rule decides; a pattern without / matches the base name at any depth, one with / the whole path', () => {
    const keep = buildNameFilter([
      { kind: 'exclude', pattern: '*.tmp' },
      { kind: 'exclude', pattern: 'logs/**' },
      { kind: 'include', pattern: 'logs/keep.tmp' },
    ]);
    expect(['a.csv', 'x/y.tmp', 'logs/a.csv', 'logs/keep.tmp', 'sub/logs/a.csv'].filter(keep)).toEqual(['a.csv', 'logs/keep.tmp', 'sub/logs/a.csv']);
  });

  it("a pattern ending in '/' is refused, naming the pattern that matches the folder's files", () => {
    expect(() => buildNameFilter([{ kind: 'exclude', pattern: 'a/' }])).toThrow(/--exclude 'a\/' ends in '\/'/);
    expect(() => buildNameFilter([{ kind: 'include', pattern: 'logs/2024/' }])).toThrow(/--include 'logs\/2024\/' ends in '\/'/);
    expect(buildNameFilter([{ kind: 'exclude', pattern: 'a/**' }])('a/y.txt')).toBe(false);
    // Inside braces or extglobs, or with spaces after it, the same.
    for (const pattern of ['{logs/,tmp/}', '{logs/,*.tmp}', '@(a/|b/)', 'logs/ ']) expect(() => buildNameFilter([{ kind: 'exclude', pattern }]), pattern).toThrow(/names a folder/);
    for (const pattern of ['{logs,tmp}/**', 'logs/*.csv', '*.{csv,json}']) expect(() => buildNameFilter([{ kind: 'exclude', pattern }]), pattern).not.toThrow();
  });
});

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
    // Inside braces, the same.
    for (const pattern of ['{logs/,tmp/}', '{logs/,*.tmp}', '{a,{b/,c}}']) expect(() => buildNameFilter([{ kind: 'exclude', pattern }]), pattern).toThrow(/naming a folder/);
    for (const pattern of ['{logs,tmp}/**', 'logs/*.csv', '*.{csv,json}']) expect(() => buildNameFilter([{ kind: 'exclude', pattern }]), pattern).not.toThrow();
  });

  it("'[!…]' is negated, and a range matches its values only", () => {
    const kept = (pattern: string, names: string[]) => names.filter(buildNameFilter([{ kind: 'exclude', pattern }]));
    expect(kept('backup-[!0-9]*', ['backup-old', 'backup-2024'])).toEqual(['backup-2024']);
    expect(kept('[!]a]x', ['bx', 'ax', ']x'])).toEqual(['ax', ']x']);
    expect(kept('*.[!c]*', ['a.csv', 'a.txt'])).toEqual(['a.csv']);
    expect(kept('file{1..10}.csv', ['file0.csv', 'file11.csv', 'file1.csv'])).toEqual(['file0.csv', 'file11.csv']);
    expect(kept('month={01..12}/**', ['month=1/a', 'month=13/a', 'month=05/a'])).toEqual(['month=1/a', 'month=13/a']);
    expect(kept('{1..10..3}.csv', ['2.csv', '7.csv'])).toEqual(['2.csv']);
    // The pattern as written is no name it matches.
    expect(kept('year={2019..2024}/**', ['year=2019..2024/a', 'year=2/a'])).toEqual(['year=2019..2024/a', 'year=2/a']);
  });

  it('a pattern no relative name can match is refused, whatever shape hides it; the hint names one that matches', () => {
    const refusal = (pattern: string) => {
      try {
        buildNameFilter([{ kind: 'exclude', pattern }]);
      } catch (error) {
        return `${(error as Error).message} (${(error as { hint?: string }).hint})`;
      }
      return 'accepted';
    };
    // Each would match nothing (or not what it looks like), so that `sync --delete --exclude P` would delete what P was meant to keep.
    const refused: Array<[string, RegExp]> = [
      ['/logs/', /ends in '\/'.*use 'logs\/\*\*' to match a folder/],
      ['/logs/**', /starts with '\/'.*use 'logs\/\*\*'/],
      ['logs//**', /empty folder name.*use 'logs\/\*\*'/],
      ['logs//', /ends in '\/'.*use 'logs\/\*\*'/],
      ['logs/**/', /ends in '\/'.*use 'logs\/\*\*' to/],
      ['logs/./**', /'\.' or '\.\.' folder name.*use 'logs\/\*\*'/],
      ['logs/.', /'\.' or '\.\.' folder name.*use 'logs\/\*\*'/],
      ['a/../b/**', /'\.' or '\.\.' folder name/],
      ['logs/{,}', /one of its alternatives ends in '\/'/],
      ['{./logs,tmp/}/**', /one of its alternatives has an empty folder name/],
      ['logs[/]', /ends in '\/'/],
      ['logs[/][/]x', /empty folder name/],
      ['./', /is empty/],
      ['logs/\\ ', /ends with a space.*use 'logs\/\*\*'/],
      ['logs/\u200b', /ends with a space \(or an invisible character\)/],
      ['logs/\t', /ends with a space/],
      ['logs/** ', /ends with a space.*use 'logs\/\*\*'/],
      ['*.csv ', /ends with a space.*use '\*\.csv'/],
      [' logs/**', /starts or ends with a space/],
      ['logs\\', /ends in a lone '\\'.*write '\\\\' to match a backslash/],
      ['logs\\app.log', /'\\a', which escapes nothing in a glob/],
      ['C:\\temp\\*', /'\\t', which escapes nothing in a glob/],
      ['data\\2024\\*', /'\\2', which escapes nothing in a glob/],
      ['*.{csv,json', /'\{' that is not closed.*close it/],
      ['logs/{2023,2024/**', /'\{' that is not closed/],
      ['!(a)', /'!\(', an extglob, which is not taken.*'\{a,b\}' for alternatives/],
      ['@(logs/**|tmp/**)', /extglob/],
      ['*(1).pdf', /'\*\(', an extglob.*'\\\(' to match a parenthesis/],
      ['*.log,*.tmp', /',' outside braces: it is one pattern, not a list/],
      ['logs/**,tmp/**', /',' outside braces/],
      ['[a-Z]*', /cannot be read as a glob/],
      ['/*.csv', /starts with '\/'.*use '\.\/\*\.csv'/],
      ['//x.csv', /use '\.\/x\.csv'/],
      ['/backup\\[1\\]/', /use 'backup\\\[1\\\]\/\*\*'/],
      ['x'.repeat(1025), /longer than 1024 characters/],
      ['{' + Array(2100).fill('{a,b}'.repeat(12)).join(',') + '}', /longer than 1024 characters/],
      ['{a,b}'.repeat(9), /more than 256 alternatives.*several rules/],
      ['{0..999}.csv', /more than 256 alternatives/],
      ['date={2024-01-01..2024-01-31}/**', /'2024-01-01\.\.2024-01-31' in braces, which is no range datalake can expand/],
      ['date={2024-01-01..2024-01-31,2024-02-01}/**', /'2024-01-01\.\.2024-01-31' in braces, which is no range/],
      ['*.{csv, json}', /' json' in braces, which starts or ends with a space/],
      ['{logs, tmp}/**', /' tmp' in braces/],
      ['{*.csv ,*.json}', /'\*\.csv ' in braces/],
      ['*.{csv,\u200bjson}', /in braces, which starts or ends with a space \(or an invisible character\)/],
      ['{1..10..+2}.csv', /no range datalake can expand/],
      ['{a..zz}.csv', /no range datalake can expand/],
      ['{1...3}.csv', /no range datalake can expand/],
      ['logs/{}', /one of its alternatives ends in '\/'/],
      ['*\\.csv', /'\\\.', which escapes nothing in a glob.*write '\.' as it is/],
      ['{1..256}' + '(|)'.repeat(338), /256 alternatives of up to 1022 characters: more than datalake reads/],
      ['logs/**.gz', /'\*\*' inside a folder name, where it matches within one folder only/],
      ['{logs,tmp}**', /one of its alternatives has '\*\*' inside a folder name/],
      ['logs\\.cache', /'\\\.', which escapes nothing in a glob/],
      ['logs\\été.txt', /'\\é', which escapes nothing in a glob/],
      ['*.csv\u200e', /ends with a space \(or an invisible character\).*use '\*\.csv'/],
      ['/**', /starts with '\/'.*patterns match files' names/],
    ];
    for (const [pattern, reason] of refused) expect(refusal(pattern), pattern).toMatch(reason);
    // Patterns that match files: '(', ')', '|' and a leading '!' as written, braces expanded, '**' next to them whole.
    const accepted: Array<[string, string[]]> = [
      ['{a/,b/}c.csv', ['a/c.csv', 'b/c.csv']],
      ['{logs/,}app.log', ['logs/app.log', 'app.log']],
      ['{logs/,tmp/}**', ['logs/x', 'tmp/y/z']],
      ['{./logs,tmp}/**', ['logs/a', 'tmp/b']],
      ['.{/a,/b}', ['a', 'b']],
      ['Photos (2019)/**', ['Photos (2019)/a.jpg']],
      ['* (1).pdf', ['x/report (1).pdf']],
      ['Copy (2)', ['x/Copy (2)']],
      ['tmp|logs', ['tmp|logs']],
      ['!important.txt', ['!important.txt']],
      ['./logs/**', ['logs/a']],
      ['*.{parquet}', ['a.parquet']],
      ['{logs}/**', ['logs/a']],
      ['{1..3,5}.csv', ['2.csv', '5.csv']],
      ['{x{1..3},y}', ['x2', 'y']],
      ['{1..3}.csv', ['2.csv']],
      ['logs\\**', ['logs*x']],
      ['x\\,y.csv', ['x,y.csv']],
      ['logs/[^/]*.csv', ['logs/a.csv']],
      ['logs/[a/]x', ['logs/ax']],
      ['logs[/]x', ['logs/x']],
      ['[]a]/x', [']/x']],
      ['a/{b,{c,d}}/x', ['a/d/x']],
      ['*❤️', ['I ❤️']],
      ['.github/**', ['.github/workflows/ci.yml']],
      ['{,**/}x.csv', ['x.csv', 'a/b/x.csv']],
      ['{[,]a,b}', [',a', 'b']],
      ['logs/**/*.gz', ['logs/x/a.gz', 'logs/a.gz']],
      ['logs\\*.log', ['logs*.log']],
      ['*.py[cod]', ['a.pyc', 'x/b.pyo']],
      ['[Tt]emp/**', ['Temp/a', 'temp/b/c']],
      ['{a,b}/**/*.{csv,json}', ['a/x/y.csv', 'b/z.json']],
      ['#*#', ['#a#']],
      ['~$*', ['~$x.docx']],
      ['*~', ['a~']],
      ['C++/**', ['C++/x']],
      // Ranges as bash expands them: several digits, zero padding, a step, letters.
      ['file{1..10}.csv', ['file1.csv', 'file2.csv', 'file10.csv']],
      ['month={01..12}/**', ['month=01/a', 'month=12/b']],
      ['year={2019..2024}/**', ['year=2020/a']],
      ['{1..10..3}.csv', ['1.csv', '4.csv', '10.csv']],
      ['{a..c}.csv', ['b.csv']],
      // Each alternative without a '/' matches the base name at any depth.
      ['{*.tmp,logs/**}', ['sub/x.tmp', 'logs/a/b']],
      // Nested as deep as the length allows: read without exhausting the stack.
      ['{'.repeat(300) + 'a' + '}'.repeat(300), ['a']],
    ];
    for (const [pattern, names] of accepted) {
      expect(refusal(pattern), pattern).toBe('accepted');
      const keep = buildNameFilter([{ kind: 'exclude', pattern }]);
      for (const name of names) expect(keep(name), `${pattern} leaves out ${name}`).toBe(false);
    }
  });
});

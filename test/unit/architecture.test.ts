/**
 * The import rules of ARCHITECTURE.md, checked on the source itself: dependencies point down
 * (`cli → sync | lake → transfer → s3 → integrity → config → errors, events`), nothing in the core
 * imports the CLI, and no file imports itself by a round of imports. The few exceptions are named
 * here, file by file, with their reason; a new one fails this test until it is named.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

/** How far down each part of the source is: a file may import its own part and the parts below. */
const LEVELS: Array<[prefix: string, level: number]> = [
  ['cli/', 6],
  ['core/sync/', 5],
  ['core/lake/', 5],
  ['core/transfer/', 4],
  ['core/s3/', 3],
  ['core/integrity/', 2],
  ['core/config/', 1],
  ['core/errors.ts', 0],
  ['core/events.ts', 0],
];

/** Imports against the direction, each with why (ARCHITECTURE.md names them too). */
const EXCEPTIONS: Record<string, string> = {
  'core/integrity/checksums.ts → core/s3/limiter.ts': 'hashing takes its slots from the one home of concurrency',
  'core/integrity/background-hasher.ts → core/s3/limiter.ts': 'hashing takes its slots from the one home of concurrency',
  'core/s3/context.ts → core/transfer/buffer-pool.ts': 'the TransferContext names the type of the run’s buffer budget',
  'core/s3/context.ts → core/transfer/upload-journal.ts': 'the TransferContext names the type of the multipart journal',
  'core/events.ts → core/config/address.ts': 'events name the objects they are about (a type)',
  'core/events.ts → core/s3/retry.ts': 'a retry event names its policy’s reason (a type)',
};

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every relative import of a file (static, re-exported, type-only or dynamic), as paths under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;'"]*?from\s+['"](\.[^'"]+)['"]/g), ...text.matchAll(/import\(\s*['"](\.[^'"]+)['"]\s*\)/g)].map((match) => match[1]!);
  return specifiers.map((specifier) => relative(SRC, resolve(dirname(file), specifier.replace(/\.js$/, '.ts'))));
}

/** The part of the source a file belongs to, and its level. */
function partOf(path: string): { prefix: string; level: number } | undefined {
  const found = LEVELS.find(([prefix]) => path.startsWith(prefix));
  return found && { prefix: found[0], level: found[1] };
}

const files = sourceFiles(SRC).map((file) => relative(SRC, file));
const graph = new Map(files.map((file) => [file, importsOf(join(SRC, file))]));

describe('the import rules of ARCHITECTURE.md', () => {
  it('reads the whole source: every file and every import it makes', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(files.filter((file) => partOf(file) === undefined)).toEqual([]);
    const unresolved = [...graph].flatMap(([file, imports]) => imports.filter((target) => !graph.has(target)).map((target) => `${file} → ${target}`));
    expect(unresolved).toEqual([]);
    expect([...graph.values()].flat().length).toBeGreaterThan(500);
  });

  it('nothing in the core imports the CLI', () => {
    expect([...graph].flatMap(([file, imports]) => (file.startsWith('core/') ? imports.filter((target) => target.startsWith('cli/')).map((target) => `${file} → ${target}`) : []))).toEqual([]);
  });

  it('dependencies point down, but for the exceptions named here', () => {
    const upward = [...graph].flatMap(([file, imports]) =>
      imports
        .filter((target) => {
          const [from, to] = [partOf(file)!, partOf(target)!];
          return from.prefix !== to.prefix && to.level >= from.level;
        })
        .map((target) => `${file} → ${target}`),
    );
    expect(upward.filter((edge) => !(edge in EXCEPTIONS))).toEqual([]);
    // An exception nothing needs any more is taken off the list.
    expect(Object.keys(EXCEPTIONS).filter((edge) => !upward.includes(edge))).toEqual([]);
  });

  it('no file imports itself by a round of imports', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' → '));
        return;
      }
      state.set(file, 'visiting');
      for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(cycles).toEqual([]);
  });
});

/**
 * Where a command's CPU time goes, from a `perf record` of it: each sample is put in one category by
 * the function it fell in (the leaf frame), and the categories are printed in seconds of CPU.
 *
 *     perf record -F 999 -e cpu-clock -o out.data -- node --perf-basic-prof bin/datalake get …
 *     npx tsx scripts/cpu-split.ts out.data [--top 25]
 *
 * `--perf-basic-prof` makes Node write /tmp/perf-PID.map, which names the JavaScript (interpreted,
 * baseline, optimised) and V8's builtins; without it they are all "unnamed generated code". Works for
 * a Go program (s5cmd) too. A development tool for the README's performance section, not shipped.
 */
import { spawnSync } from 'node:child_process';

const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error('usage: tsx scripts/cpu-split.ts PERF.DATA [--frequency 999] [--top N]');
  process.exit(2);
}
const option = (name: string, fallback: number) => (rest.includes(name) ? Number(rest[rest.indexOf(name) + 1]) : fallback);
const frequency = option('--frequency', 999);
const top = option('--top', 20);

const script = spawnSync('perf', ['script', '-i', file, '-F', 'comm,ip,sym,dso'], { encoding: 'utf8', maxBuffer: 1 << 30 });
if (script.status !== 0) {
  console.error(script.stderr.trim());
  process.exit(1);
}

/** The category of one sample, by the function it fell in and the object that holds it. */
function categoryOf(symbol: string, dso: string): string {
  if (dso.includes('kernel')) return 'kernel';
  if (/md5/i.test(symbol)) return 'hash: MD5';
  if (/sha256|sha2_|sha256block/i.test(symbol)) return 'hash: SHA-256';
  if (/crc32|crc_/i.test(symbol) || dso.includes('crc32')) return 'hash: CRC32';
  if (/libc[.-]|ld-linux/.test(dso)) return 'libc';
  if (dso.includes('perf-') || dso.includes('[unknown]') || dso.includes('memfd') || dso.includes('anon')) {
    if (/^(JS|LazyCompile|Function|Script):/.test(symbol)) return 'JavaScript';
    if (/^(Builtin|BytecodeHandler|Handler|Stub|RegExp|InlineCache|KeyedLoadIC|LoadIC|StoreIC|KeyedStoreIC)/.test(symbol)) return 'V8 builtins and inline caches';
    return 'generated code (unnamed)';
  }
  // V8's builtins are compiled into the node binary (Builtins_…): the interpreter's bytecode handlers apart.
  if (/^Builtins_.*BytecodeHandler|^Builtins_.*Handler$/.test(symbol)) return 'V8 interpreter (bytecode handlers)';
  if (/^Builtins_/.test(symbol)) return 'V8 builtins and inline caches';
  // The collector only: not the allocation functions that also live in Heap.
  if (/Heap::(CollectGarbage|PerformGarbageCollection|Scavenge|MarkCompact|FinalizeIncrementalMarking)|Scavenger|MarkCompact|Sweeper|Marking|Evacuat|GCTracer|Concurrent(Marking|Sweep)|MinorMC|Mark.*Visitor|cppgc/.test(symbol)) return 'garbage collection';
  if (/Parser|Scanner|Compiler|Compile|BytecodeGenerator|Preparse|Maglev|Turbofan|compiler::|Sparkplug|baseline::|AstNode|Zone::/.test(symbol)) return 'V8 parser and compilers';
  // Go: its runtime (scheduler, allocator, collector) apart from the program's own code.
  if (/^runtime\./.test(symbol)) return 'Go runtime';
  if (/^(main|github\.com|net|crypto|io|bufio|os|syscall|internal|sync|encoding|strings|bytes|reflect|fmt|time|context)[./]/.test(symbol)) return 'Go code';
  if (dso.endsWith('.node')) return 'native addons';
  if (dso.includes('node')) return 'V8 and Node runtime (C++)';
  return `other (${dso})`;
}

const byCategory = new Map<string, number>();
const bySymbol = new Map<string, number>();
let samples = 0;
for (const line of script.stdout.split('\n')) {
  // `comm  ip symbol+0x… (dso)`; the symbol may hold spaces and brackets.
  const match = /^\s*(\S+)\s+[0-9a-f]+\s+(.*?)\s+\(([^()]*)\)\s*$/.exec(line);
  if (!match) continue;
  const [, , rawSymbol, dso] = match as unknown as [string, string, string, string];
  const symbol = rawSymbol.replace(/\+0x[0-9a-f]+$/, '');
  const category = categoryOf(symbol, dso);
  byCategory.set(category, (byCategory.get(category) ?? 0) + 1);
  const key = `${category} | ${symbol.slice(0, 90)}`;
  bySymbol.set(key, (bySymbol.get(key) ?? 0) + 1);
  samples += 1;
}

const seconds = (count: number) => (count / frequency).toFixed(2);
console.log(`${samples} samples, ${seconds(samples)} s of CPU at ${frequency} Hz`);
for (const [category, count] of [...byCategory].sort((a, b) => b[1] - a[1])) {
  console.log(`  ${seconds(count).padStart(7)} s  ${((100 * count) / samples).toFixed(1).padStart(5)} %  ${category}`);
}
console.log(`top ${top} functions:`);
for (const [key, count] of [...bySymbol].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`  ${seconds(count).padStart(7)} s  ${key}`);
}

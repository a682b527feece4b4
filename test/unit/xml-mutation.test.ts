/**
 * Adversarial review of the strict XML reader (s3/xml.ts) through parseListPage, the way a damaged
 * answer reaches it: bytes off the wire, decoded by answerText, read by parseListPage. Issue 14's
 * promise: a damaged page throws a DamagedAnswer (retried, then the run fails) and is never read as
 * fewer keys, since `sync --delete` deletes what a listing does not name.
 *
 * Seeded pages (keys with XML-escaped characters, unicode, spaces, `&amp;`, `&#13;`, three escaping
 * styles, compact and indented) get one random mutation each: a byte flipped, a bit flipped, a byte
 * deleted, a byte inserted, the body cut short. Each outcome is one of:
 * - thrown, as a transient DamagedAnswer;
 * - the original page exactly (a change in a field the page does not give, e.g. Owner);
 * - one value changed in place: the mutation lies inside the text of that one Key/Size/ETag/...
 *   and nothing else differs. No well-formedness check can see this (a `b` for an `a` in a key);
 *   counted, not failed, unless the value holds what no key can (bytes that are not UTF-8, read as
 *   U+FFFD; half a surrogate pair): that damage is detectable. A control character is a character a
 *   key may hold: S3 allows such keys and MinIO lists them in its XML (raw or as `&#1;`, which XML 1.0
 *   does not allow), so a reader that refused them could never list such a bucket; it is counted as
 *   a value changed in place;
 * - anything else (fewer or more entries, IsTruncated or the token changed by a mutation outside the
 *   token, two fields changed): a hole.
 */
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { answerText, DamagedAnswer, parseListPage, type ListPage } from '../../src/core/s3/answers.js';
import { classifyError } from '../../src/core/s3/retry.js';
import { readXml } from '../../src/core/s3/xml.js';
import { seeded as prng } from '../support/fault-proxy.js';

type Style = 'minio' | 'named' | 'minimal';

/** How servers escape text: MinIO (Go's encoding/xml: numeric for quotes and CR/LF/TAB), named references, and only what XML requires. */
function escapeText(text: string, style: Style): string {
  let out = text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  if (style === 'minio') return out.replace(/>/g, '&gt;').replace(/'/g, '&#39;').replace(/"/g, '&#34;').replace(/\r/g, '&#xD;').replace(/\n/g, '&#xA;').replace(/\t/g, '&#x9;');
  if (style === 'named') return out.replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;').replace(/\r/g, '&#13;').replace(/\n/g, '&#10;');
  out = out.replace(/\r/g, '&#13;');
  return out;
}

type Field = 'key' | 'size' | 'etag' | 'lastModified' | 'storageClass' | 'prefix' | 'token';
interface Span {
  start: number;
  end: number;
  entry: number;
  field: Field;
}
interface Generated {
  bytes: Buffer;
  page: ListPage;
  spans: Span[];
  style: Style;
}

const PIECES = ['a', 'b', 'Z', '0', '9', '/', '.', '-', '_', ' ', '  ', '&', '&amp;', '<', '>', '"', "'", '\r', '\t', 'é', '日本', '😀', '=', '?', '!', '[', ']]>', ';', '#', '<!--', '-->', '&#13;', 'x/Key', '</Key>'];

function generatePage(random: () => number, options: { keyCount: boolean }): Generated {
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  const style = pick(['minio', 'named', 'minimal'] as const);
  const indent = random() < 0.3;
  const nl = indent ? '\n  ' : '';
  const keySet = new Set<string>();
  const keyTotal = Math.floor(random() * 7);
  while (keySet.size < keyTotal) {
    let key = 'raw/';
    const length = 1 + Math.floor(random() * 6);
    for (let i = 0; i < length; i++) key += pick(PIECES);
    keySet.add(key);
  }
  const keys = [...keySet].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const prefixes = random() < 0.3 ? ['raw/year=2026/', 'raw/ünï code &/'].slice(0, 1 + Math.floor(random() * 2)) : [];
  const isTruncated = keys.length + prefixes.length > 0 && random() < 0.4;
  const token = isTruncated ? Array.from({ length: 8 + Math.floor(random() * 40) }, () => pick([...'ABCDEFabcdef0123456789+/='])).join('') : undefined;

  const chunks: string[] = [];
  const spans: Span[] = [];
  let offset = 0;
  const put = (text: string) => {
    chunks.push(text);
    offset += Buffer.byteLength(text);
  };
  const value = (text: string, entry: number, field: Field) => {
    const start = offset;
    put(text);
    spans.push({ start, end: offset, entry, field });
  };

  put(`<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${nl}<Name>lake</Name>${nl}<Prefix>raw/</Prefix>`);
  if (options.keyCount) put(`${nl}<KeyCount>${keys.length + prefixes.length}</KeyCount>`);
  put(`${nl}<MaxKeys>1000</MaxKeys>${nl}<IsTruncated>${isTruncated}</IsTruncated>`);
  const contents: ListPage['contents'] = [];
  keys.forEach((key, index) => {
    const size = String(Math.floor(random() * 1e9));
    const etagHex = Array.from({ length: 32 }, () => pick([...'0123456789abcdef'])).join('');
    const quote = style === 'minio' ? '&#34;' : '&quot;';
    put(`${nl}<Contents><Key>`);
    value(escapeText(key, style), index, 'key');
    put(`</Key><LastModified>`);
    value('2026-11-30T09:00:00.000Z', index, 'lastModified');
    put(`</LastModified><ETag>`);
    value(`${quote}${etagHex}${quote}`, index, 'etag');
    put(`</ETag><Size>`);
    value(size, index, 'size');
    put(`</Size><Owner><ID>02d6176db174dc93cb1b899f7c6078f0</ID><DisplayName>minio</DisplayName></Owner><StorageClass>`);
    value('STANDARD', index, 'storageClass');
    put(`</StorageClass></Contents>`);
    contents.push({ key, size: Number(size), lastModified: new Date('2026-11-30T09:00:00.000Z'), etag: `"${etagHex}"`, storageClass: 'STANDARD' });
  });
  prefixes.forEach((prefix, index) => {
    put(`${nl}<CommonPrefixes><Prefix>`);
    value(escapeText(prefix, style), index, 'prefix');
    put(`</Prefix></CommonPrefixes>`);
  });
  if (token !== undefined) {
    put(`${nl}<NextContinuationToken>`);
    value(escapeText(token, style), 0, 'token');
    put(`</NextContinuationToken>`);
  }
  put(`${indent ? '\n' : ''}</ListBucketResult>${indent ? '\n' : ''}`);
  const bytes = Buffer.from(chunks.join(''));
  expect(bytes.length).toBe(offset);
  return { bytes, page: { contents, commonPrefixes: prefixes, isTruncated, nextContinuationToken: token }, spans, style };
}

interface Mutation {
  kind: 'flip' | 'bit' | 'delete' | 'insert' | 'truncate';
  at: number;
  byte?: number;
  bytes: Buffer;
}

const INTERESTING = [...'<>/&;#"\'=!?-[] \n\r\tax0'].map((c) => c.charCodeAt(0));

function mutate(random: () => number, original: Buffer): Mutation {
  const roll = random();
  const at = Math.floor(random() * original.length);
  if (roll < 0.3) {
    const byte = original[at]! ^ (1 + Math.floor(random() * 255));
    const bytes = Buffer.from(original);
    bytes[at] = byte;
    return { kind: 'flip', at, byte, bytes };
  }
  if (roll < 0.5) {
    const byte = original[at]! ^ (1 << Math.floor(random() * 8));
    const bytes = Buffer.from(original);
    bytes[at] = byte;
    return { kind: 'bit', at, byte, bytes };
  }
  if (roll < 0.7) return { kind: 'delete', at, bytes: Buffer.concat([original.subarray(0, at), original.subarray(at + 1)]) };
  if (roll < 0.9) {
    const byte = random() < 0.6 ? INTERESTING[Math.floor(random() * INTERESTING.length)]! : Math.floor(random() * 256);
    return { kind: 'insert', at, byte, bytes: Buffer.concat([original.subarray(0, at), Buffer.from([byte]), original.subarray(at)]) };
  }
  // Cut short: anything from nothing to all but the last byte.
  return { kind: 'truncate', at, bytes: original.subarray(0, at) };
}

/**
 * The positions where the same mutation gives the same bytes: inserting or deleting a byte inside a
 * run of that byte (`<ETag>` + `>` is `<ETag>>`, the same as `>` put before the value's first byte).
 */
function equivalentPositions(original: Buffer, mutation: Mutation): [number, number] {
  let lo = mutation.at;
  let hi = mutation.at;
  const byte = mutation.kind === 'insert' ? mutation.byte! : mutation.kind === 'delete' ? original[mutation.at]! : undefined;
  if (byte === undefined) return [lo, hi];
  while (lo > 0 && original[lo - 1] === byte) lo--;
  if (mutation.kind === 'insert') while (hi < original.length && original[hi] === byte) hi++;
  else while (hi + 1 < original.length && original[hi + 1] === byte) hi++;
  return [lo, hi];
}

/** The fields of `got` that differ from `want`, each as entry and field. */
function differences(want: ListPage, got: ListPage): Array<{ entry: number; field: Field | 'count' | 'isTruncated' }> {
  const out: Array<{ entry: number; field: Field | 'count' | 'isTruncated' }> = [];
  if (want.contents.length !== got.contents.length || want.commonPrefixes.length !== got.commonPrefixes.length) return [{ entry: -1, field: 'count' }];
  want.contents.forEach((item, entry) => {
    const other = got.contents[entry]!;
    if (item.key !== other.key) out.push({ entry, field: 'key' });
    if (item.size !== other.size) out.push({ entry, field: 'size' });
    if (item.etag !== other.etag) out.push({ entry, field: 'etag' });
    if (item.storageClass !== other.storageClass) out.push({ entry, field: 'storageClass' });
    if (item.lastModified?.getTime() !== other.lastModified?.getTime()) out.push({ entry, field: 'lastModified' });
  });
  want.commonPrefixes.forEach((prefix, entry) => {
    if (prefix !== got.commonPrefixes[entry]) out.push({ entry, field: 'prefix' });
  });
  if (want.isTruncated !== got.isTruncated) out.push({ entry: -1, field: 'isTruncated' });
  if (want.nextContinuationToken !== got.nextContinuationToken) out.push({ entry: 0, field: 'token' });
  return out;
}

/** Half a surrogate pair, which no UTF-8 key can hold (U+FFFD where the page had none is checked apart). */
const NOT_XML_CHARACTER = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function valueOf(page: ListPage, entry: number, field: Field): string {
  if (field === 'prefix') return page.commonPrefixes[entry]!;
  if (field === 'token') return page.nextContinuationToken ?? '';
  const item = page.contents[entry]!;
  if (field === 'lastModified') return item.lastModified?.toISOString() ?? '';
  return String(item[field]);
}

type Outcome = 'thrown' | 'same' | 'inValue' | 'detectableInValue' | 'hole';

interface Run {
  counts: Record<Outcome, number>;
  byKind: Record<string, Record<Outcome, number>>;
  holes: string[];
  detectable: string[];
  nonDamageErrors: string[];
  weAcceptValidatorRejects: Map<string, string[]>;
  weRejectValidatorAccepts: number;
  inValueKeysOutOfOrder: number;
  inValueKeys: number;
  cases: number;
  ms: number;
}

function describeCase(generated: Generated, mutation: Mutation): string {
  const around = generated.bytes.subarray(Math.max(0, mutation.at - 25), mutation.at + 25).toString('latin1');
  return `${mutation.kind}@${mutation.at}${mutation.byte === undefined ? '' : `=0x${mutation.byte.toString(16)}`} (${generated.style}) near ${JSON.stringify(around)}`;
}

function runMutations(seed: number, pages: number, perPage: number, options: { keyCount: boolean }): Run {
  const random = prng(seed);
  const run: Run = {
    counts: { thrown: 0, same: 0, inValue: 0, detectableInValue: 0, hole: 0 },
    byKind: {},
    holes: [],
    detectable: [],
    nonDamageErrors: [],
    weAcceptValidatorRejects: new Map(),
    weRejectValidatorAccepts: 0,
    inValueKeysOutOfOrder: 0,
    inValueKeys: 0,
    cases: 0,
    ms: 0,
  };
  const started = performance.now();
  for (let p = 0; p < pages; p++) {
    const generated = generatePage(random, options);
    // The unmutated page reads exactly as generated.
    expect(parseListPage(answerText({ body: generated.bytes, bodyLength: generated.bytes.length }, 'ListObjectsV2', 1 << 23))).toEqual(generated.page);
    for (let m = 0; m < perPage; m++) {
      const mutation = mutate(random, generated.bytes);
      run.cases++;
      // Decoded leniently for the validator comparison below; the reader decodes strictly.
      const text = mutation.bytes.toString('utf8');
      let outcome: Outcome;
      let got: ListPage | undefined;
      try {
        got = parseListPage(answerText({ body: mutation.bytes, bodyLength: mutation.bytes.length }, 'ListObjectsV2', 1 << 23));
      } catch (error) {
        if (!(error instanceof DamagedAnswer) || classifyError(error) !== 'transient') run.nonDamageErrors.push(`${describeCase(generated, mutation)}: ${String(error)}`);
      }
      if (got === undefined) outcome = 'thrown';
      else {
        const diff = differences(generated.page, got);
        if (diff.length === 0) outcome = 'same';
        else {
          const only = diff.length === 1 ? diff[0]! : undefined;
          const span = only && only.field !== 'count' && only.field !== 'isTruncated' ? generated.spans.find((s) => s.entry === only.entry && s.field === only.field) : undefined;
          const [lo, hi] = equivalentPositions(generated.bytes, mutation);
          const inside = span !== undefined && mutation.kind !== 'truncate' && hi >= span.start && (mutation.kind === 'insert' ? lo <= span.end : lo < span.end);
          if (!inside) {
            outcome = 'hole';
            run.holes.push(`${describeCase(generated, mutation)}: ${JSON.stringify(diff)}`);
          } else {
            const before = valueOf(generated.page, span.entry, span.field);
            const after = valueOf(got, span.entry, span.field);
            if (NOT_XML_CHARACTER.test(after) || (after.includes('\uFFFD') && !before.includes('\uFFFD'))) {
              outcome = 'detectableInValue';
              run.detectable.push(`${describeCase(generated, mutation)}: ${span.field} ${JSON.stringify(before)} read as ${JSON.stringify(after)}`);
            } else outcome = 'inValue';
            if (span.field === 'key') {
              run.inValueKeys++;
              const keys = got.contents.map((item) => Buffer.from(item.key));
              if (keys.some((key, index) => index > 0 && Buffer.compare(keys[index - 1]!, key) >= 0)) run.inValueKeysOutOfOrder++;
            }
          }
        }
      }
      run.counts[outcome]++;
      (run.byKind[mutation.kind] ??= { thrown: 0, same: 0, inValue: 0, detectableInValue: 0, hole: 0 })[outcome]++;

      // Well-formedness, ours against fast-xml-parser's validator on the same text.
      let ours = true;
      try {
        readXml(answerText({ body: mutation.bytes, bodyLength: mutation.bytes.length }, 'ListObjectsV2', 1 << 23));
      } catch {
        ours = false;
      }
      const verdict = XMLValidator.validate(text);
      const theirs = verdict === true;
      if (ours && !theirs) {
        const code = (verdict as { err: { code: string; msg: string } }).err;
        const key = `${code.code}: ${code.msg.replace(/'[^']*'/g, "'…'")}`;
        const list = run.weAcceptValidatorRejects.get(key) ?? [];
        list.push(`${describeCase(generated, mutation)} -> ${outcome}`);
        run.weAcceptValidatorRejects.set(key, list);
      }
      if (!ours && theirs) run.weRejectValidatorAccepts++;
    }
  }
  run.ms = performance.now() - started;
  return run;
}

function report(label: string, run: Run): void {
  const lines = [
    `${label}: ${run.cases} mutated pages in ${run.ms.toFixed(0)} ms: ${JSON.stringify(run.counts)}`,
    `  by kind: ${JSON.stringify(run.byKind)}`,
    `  keys changed in place: ${run.inValueKeys}, of which out of S3's order: ${run.inValueKeysOutOfOrder}`,
    `  ours rejects, validator accepts: ${run.weRejectValidatorAccepts}`,
    `  ours accepts, validator rejects: ${[...run.weAcceptValidatorRejects].map(([code, cases]) => `${cases.length} × ${code}`).join('; ') || 'none'}`,
    ...[...run.weAcceptValidatorRejects].flatMap(([code, cases]) => cases.slice(0, 3).map((c) => `    [${code}] ${c}`)),
    ...run.detectable.slice(0, 6).map((c) => `  detectable, read anyway: ${c}`),
    ...run.holes.slice(0, 10).map((c) => `  HOLE: ${c}`),
  ];
  console.log(lines.join('\n'));
}

describe('parseListPage under random single mutations (seeded)', () => {
  it('a mutated page with KeyCount is thrown as damage or read exactly, except one value changed where the mutation was: never fewer keys', () => {
    const run = runMutations(0x14d474, 600, 20, { keyCount: true });
    report('with KeyCount', run);
    expect(run.cases).toBe(12_000);
    expect(run.nonDamageErrors).toEqual([]);
    expect(run.holes).toEqual([]);
    // A listing whose keys are not in S3's order has been changed (S3 lists in UTF-8 binary order).
    expect(run.counts.thrown).toBeGreaterThan(run.cases / 2);
  });

  it('the same without KeyCount (a server that does not send it): still never fewer keys', () => {
    const run = runMutations(0x5eed, 300, 20, { keyCount: false });
    report('without KeyCount', run);
    expect(run.nonDamageErrors).toEqual([]);
    expect(run.holes).toEqual([]);
  });

  it('damage no key can hold (bytes that are not UTF-8, half a surrogate pair) is thrown, never read as a changed key', () => {
    const run = runMutations(0xbadf00d, 300, 20, { keyCount: true });
    report('detectable in-value damage', run);
    expect(run.detectable).toEqual([]);
  });
});

describe('damage a strict reader can see, and input that costs', () => {
  /** A one-key page as MinIO writes it, as bytes. */
  const page = (keyXml: string) => Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult><KeyCount>1</KeyCount><IsTruncated>false</IsTruncated><Contents><Key>${keyXml}</Key><Size>1</Size></Contents></ListBucketResult>`);
  const read = (bytes: Buffer) => parseListPage(answerText({ body: bytes, bodyLength: bytes.length }, 'ListObjectsV2', 1 << 23));

  it('a key whose UTF-8 was damaged (one byte of 日 flipped) is damage, not a key with U+FFFD in it', () => {
    const bytes = page('raw/日本.csv');
    const at = bytes.indexOf(Buffer.from('日'));
    bytes[at + 1]! ^= 0x40;
    expect(() => read(bytes)).toThrow(DamagedAnswer);
  });

  it('a control character in a key, raw or as a reference (S3 allows such keys; MinIO lists them so), is read as that key', () => {
    expect(read(page('raw/a\u0001b.csv')).contents.map((item) => item.key)).toEqual(['raw/a\u0001b.csv']);
    expect(read(page('raw/a&#1;b.csv')).contents.map((item) => item.key)).toEqual(['raw/a\u0001b.csv']);
  });

  it('a reference to half a surrogate pair (no UTF-8 key holds one) is damage', () => {
    expect(() => read(page('raw/a&#xD800;b.csv'))).toThrow(DamagedAnswer);
  });

  it('a legal key made only of space and a line break (S3 allows it) is listed, not called an entry without a Key', () => {
    expect(read(page(' &#xA;')).contents.map((item) => item.key)).toEqual([' \n']);
  });

  it('a hostile 4 MiB answer (`<?` or `<` and a run of name characters that never ends) is rejected, as a listing and as an error body', () => {
    // Read in linear time these take milliseconds; an expression that tries every shorter name
    // length again would take hours here, far past the test's time limit.
    const run = 'a'.repeat(4 * 1024 * 1024);
    expect(() => read(Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult><?${run}`))).toThrow(DamagedAnswer);
    expect(() => read(Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult><${run} b="c"`))).toThrow(DamagedAnswer);
    readXmlOrNot(`<Error><?${run}`);
  });
});

function readXmlOrNot(xml: string): void {
  try {
    readXml(xml);
  } catch {
    // Rejected: what is measured is how long it took.
  }
}

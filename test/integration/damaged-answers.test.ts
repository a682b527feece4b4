import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { createTestBucket, emptyAndDeleteBucket, lastJson, listKeys, runCli, s3Env, tempDirectory, testClient } from '../support/harness.js';

/**
 * Answers damaged on the way (by the fault proxy, with a Content-Length that matches the damage, so
 * nothing at the HTTP level gives it away) are errors, retried, and never read as fewer keys: a
 * `sync --delete` deletes nothing because of them.
 */
const work = tempDirectory('damaged');
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let proxied: NodeJS.ProcessEnv;
const local = join(work.path, 'tree');
const TREE_FILES = 1100; // two list pages

const LIST = /[?&]list-type=2/;
const cli = (args: string[]) => runCli([...args, '--retries', '2', '--log-file', join(work.path, 'damaged.log')], { env: proxied });
const names = (directory: string) => readdirSync(directory, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).length;

async function putAll(objects: Array<{ key: string; body: string }>): Promise<void> {
  const limit = pLimit(16);
  await Promise.all(objects.map(({ key, body }) => limit(() => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body })))));
}

function writeLocal(root: string, files: Array<{ name: string; body: string | Buffer }>): void {
  for (const { name, body } of files) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), body);
  }
}

const treeFiles = Array.from({ length: TREE_FILES }, (_, index) => ({ name: `f${String(index).padStart(4, '0')}.txt`, body: `file ${index}\n` }));

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'damaged');
  proxy = new FaultProxy(inject('s3').endpoint!);
  const endpoint = await proxy.start();
  proxied = s3Env({ AWS_ENDPOINT_URL: endpoint, DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_CACHE_DIR: join(work.path, 'cache') });
  await putAll(treeFiles.map(({ name, body }) => ({ key: `tree/${name}`, body })));
  writeLocal(local, treeFiles);
});
afterAll(async () => {
  await proxy.stop();
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

/** A `sync --delete` down into the complete local copy, through the proxy's rules. */
async function syncDown(rules: Parameters<FaultProxy['setRules']>[0]) {
  proxy.setRules(rules);
  const result = await cli(['sync', `s3://${bucket}/tree/`, local, '--delete', '--json']);
  expect(names(local), 'no local file may be deleted because an answer was damaged').toBe(TREE_FILES);
  return result;
}

function expectOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

describe('a damaged listing deletes nothing', () => {
  it('IsTruncated turned false on the first page (its token still there): exit 1, one line, nothing deleted', async () => {
    const result = await syncDown([{ method: 'GET', match: LIST, fault: { kind: 'rewrite-response', from: '<IsTruncated>true</IsTruncated>', to: '<IsTruncated>false</IsTruncated>' } }]);
    expect(result.code).toBe(1);
    expect(proxy.faults('rewrite-response')).toBe(3);
    expectOneLine(result.stderr, /^datalake: error: damaged answer to ListObjectsV2 s3:\/\/[^ ]+\/tree\/: not truncated, yet a NextContinuationToken/);
  });

  it('the same damage once: the retry reads a clean page and the sync completes, nothing deleted', async () => {
    const result = await syncDown([{ method: 'GET', match: LIST, times: 1, fault: { kind: 'rewrite-response', from: '<IsTruncated>true</IsTruncated>', to: '<IsTruncated>false</IsTruncated>' } }]);
    expect(result.code).toBe(0);
    expect(proxy.faults('rewrite-response')).toBe(1);
    expect(lastJson(result)).toMatchObject({ transferred: 0, skipped: TREE_FILES, deleted: 0, failed: 0 });
  });

  it('one byte changed inside one </Contents> of every page: exit 1, nothing deleted', async () => {
    const result = await syncDown([{ method: 'GET', match: LIST, fault: { kind: 'rewrite-response', from: '</Contents>', to: '</Contentr>', occurrence: 10 } }]);
    expect(result.code).toBe(1);
    expectOneLine(result.stderr, /^datalake: error: damaged answer to ListObjectsV2 .*not well-formed/);
  });

  it('a page cut short with a matching Content-Length, every time: exit 1, nothing deleted; once: the sync completes', async () => {
    const always = await syncDown([{ method: 'GET', match: LIST, fault: { kind: 'shorten-response', keepFraction: 0.6 } }]);
    expect(always.code).toBe(1);
    // Where 60% of the page ends decides which damage is read: an element cut open, or a reference cut short (`&#3`).
    expectOneLine(always.stderr, /^datalake: error: damaged answer to ListObjectsV2 .*(not well-formed|unknown reference)/);
    const once = await syncDown([{ method: 'GET', match: LIST, skip: 1, times: 1, fault: { kind: 'shorten-response', keepFraction: 0.6 } }]);
    expect(once.code).toBe(0);
    expect(proxy.faults('shorten-response')).toBe(1);
    expect(lastJson(once)).toMatchObject({ skipped: TREE_FILES, deleted: 0, failed: 0 });
  });

  it('ls of a damaged listing: exit 1 with one line, not a shorter listing', async () => {
    proxy.setRules([{ method: 'GET', match: LIST, fault: { kind: 'shorten-response', keepFraction: 0.6 } }]);
    const result = await cli(['ls', '--recursive', `s3://${bucket}/tree/`]);
    expect(result.code).toBe(1);
    expectOneLine(result.stderr, /^datalake: error: damaged answer to ListObjectsV2 s3:\/\/[^ ]+\/tree\/: (not well-formed|unknown reference)/);
  });
});

describe('a page of 1,000 long keys', () => {
  it('1,000 long keys full of &, < and \': every key listed from one page, nothing deleted', async () => {
    // Each key ~960 bytes in segments of at most 250 (a file name's limit). Listings are asked URL-encoded,
    // so the server sends each of & < ' as three bytes (%26): a page of ~3 MB. A server that ignores
    // encoding-type escapes them for XML instead (&amp;), ~4.5 KB a key: over 4 MiB, within LIST_PAGE_LIMIT.
    const segment = (index: number, length: number) => `${"&<'".repeat(Math.ceil(length / 3))}`.slice(0, length - 4) + String(index).padStart(4, '0');
    const files = Array.from({ length: 1000 }, (_, index) => ({
      name: [String(index).padStart(4, '0'), segment(index, 250), segment(index, 250), segment(index, 250), segment(index, 200)].join('/'),
      body: `long ${index}\n`,
    }));
    await putAll(files.map(({ name, body }) => ({ key: `long/${name}`, body })));
    const directory = join(work.path, 'long');
    writeLocal(directory, files);
    proxy.setRules([]);
    const ls = await cli(['ls', '--recursive', '--json', `s3://${bucket}/long/`]);
    expect(ls.code).toBe(0);
    const escapedKeys = files.reduce((sum, { name }) => sum + Buffer.byteLength(`long/${name}`.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&#39;')), 0);
    expect(escapedKeys).toBeGreaterThan(4 * 1024 * 1024);
    expect(lastJson<{ count: number }>(ls).count).toBe(1000);
    const listed = proxy.log.filter((entry) => LIST.test(entry.url));
    expect(listed).toHaveLength(1); // one page
    const result = await cli(['sync', `s3://${bucket}/long/`, directory, '--delete', '--json']);
    expect(result.code).toBe(0);
    expect(lastJson(result)).toMatchObject({ transferred: 0, skipped: 1000, deleted: 0, failed: 0 });
    expect(names(directory)).toBe(1000);
    expect(readFileSync(join(directory, files[999]!.name), 'utf8')).toBe('long 999\n');
  });
});

/**
 * The fault suite: put, get and sync through the proxy with many faults at seeded rates — connection
 * resets, answers cut short, 5xx and SlowDown, flipped bytes in request and answer bodies, damaged
 * list pages — then the totals the guarantees are about, printed on one line and held at zero.
 * Which request draws which fault depends on the order requests reach the proxy, so the faulted runs
 * may end 0 or 1; what is asserted holds for every draw, and a clean run afterwards converges.
 */
describe('the fault suite', () => {
  const ROUNDS = [11, 23, 37, 41];
  const KiB = 1024;

  /** A repeatable stream of bytes: the same files on every run of the suite. */
  function seededBytes(seed: number, size: number): Buffer {
    const data = Buffer.alloc(size);
    let state = seed >>> 0;
    for (let offset = 0; offset + 4 <= size; offset += 4) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      data.writeUInt32LE(state, offset);
    }
    return data;
  }

  function faultRules() {
    const list = { method: 'GET', match: LIST };
    const object = { match: /^\/[^/?]+\/suite-[^?]*[^/](\?|$)/ };
    return [
      { ...list, rate: 0.15, fault: { kind: 'rewrite-response', from: '<IsTruncated>false</IsTruncated>', to: '<IsTruncated>true</IsTruncated>' } },
      { ...list, rate: 0.15, fault: { kind: 'rewrite-response', from: '<KeyCount>', to: '<KeyCount>1' } },
      { ...list, rate: 0.15, fault: { kind: 'rewrite-response', from: '</Contents>', to: '</Contentr>', occurrence: 3 } },
      { ...list, rate: 0.15, fault: { kind: 'shorten-response', keepFraction: 0.7 } },
      { ...list, rate: 0.08, fault: { kind: 'status', status: 503, code: 'SlowDown' } },
      { ...object, method: 'PUT', rate: 0.06, fault: { kind: 'reset' } },
      { ...object, method: 'PUT', rate: 0.06, fault: { kind: 'status', status: 503, code: 'SlowDown' } },
      { ...object, method: 'PUT', rate: 0.05, fault: { kind: 'status', status: 500, code: 'InternalError' } },
      { ...object, method: 'PUT', rate: 0.08, fault: { kind: 'flip-request-byte', offset: 100 } },
      { ...object, method: 'POST', rate: 0.08, fault: { kind: 'status', status: 500, code: 'InternalError' } },
      { ...object, method: 'HEAD', rate: 0.06, fault: { kind: 'status', status: 503, code: 'SlowDown' } },
      { ...object, method: 'GET', rate: 0.06, fault: { kind: 'reset' } },
      { ...object, method: 'GET', rate: 0.06, fault: { kind: 'truncate-response', afterBytes: 3000 } },
      { ...object, method: 'GET', rate: 0.08, fault: { kind: 'flip-response-byte', offset: 2500 } },
      { ...object, method: 'GET', rate: 0.05, fault: { kind: 'status', status: 500, code: 'InternalError' } },
    ] as Parameters<FaultProxy['setRules']>[0];
  }

  /** Every file under a directory, by path relative to it; none when a run that failed made no directory. */
  function filesUnder(directory: string): Map<string, Buffer> {
    const files = new Map<string, Buffer>();
    if (!existsSync(directory)) return files;
    for (const entry of readdirSync(directory, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      files.set(path.slice(directory.length + 1), readFileSync(path));
    }
    return files;
  }

  /** Every path under the work directory outside the places a run may write. */
  function pathsOutside(allowed: string[]): string[] {
    return readdirSync(suiteRoot, { recursive: true })
      .map((name) => join(suiteRoot, String(name)))
      .filter((path) => !allowed.some((place) => path === place || path.startsWith(`${place}/`)));
  }

  const suiteRoot = join(work.path, 'suite');
  const source = join(suiteRoot, 'source');
  const files = [
    ...Array.from({ length: 40 }, (_, index) => ({ name: `part-${String(index).padStart(3, '0')}.csv`, data: seededBytes(index + 1, ((index * 7919) % 60) * KiB + (index % 5)) })),
    ...Array.from({ length: 8 }, (_, index) => ({ name: `nested/day=${index}/events.json`, data: seededBytes(100 + index, 5 * KiB + index) })),
    { name: 'big/large.bin', data: seededBytes(999, 11 * 1024 * KiB + 123) },
  ];
  const expected = new Map(files.map(({ name, data }) => [name, data]));
  const single = { name: 'single.bin', data: seededBytes(7, 200 * KiB) };
  const allowedPlaces = [source, join(suiteRoot, single.name), join(suiteRoot, 'state'), join(suiteRoot, 'cache'), join(suiteRoot, 'suite.log')];
  const totals = { faults: 0, runsFailed: 0, corruptObjects: 0, partialFiles: 0, deletionsByDamage: 0, writesOutside: 0, debris: 0 };
  const byKind = new Map<string, number>();
  const roundsChecked: number[] = [];
  let suiteBucket: string | undefined;
  let started = 0;
  /**
   * Each command's retries, bounded as the file's other tests bound them: a request that draws a
   * fault on every try gives up after three (its run ends 1, which a round allows) rather than six,
   * with at most 0.6 s of backoff waits rather than 6.2 s, so a round's time stays bounded.
   */
  const RETRIES = '2';
  const run = (args: string[]) =>
    runCli([...args, '--json', '--retries', RETRIES, '--log-file', join(suiteRoot, 'suite.log')], {
      env: { ...proxied, DATALAKE_PART_SIZE: '5MiB', DATALAKE_STATE_DIR: join(suiteRoot, 'state'), DATALAKE_CACHE_DIR: join(suiteRoot, 'cache') },
    });

  beforeAll(async () => {
    suiteBucket = await createTestBucket(client, 'suite');
    writeLocal(source, files.map(({ name, data }) => ({ name, body: data })));
    writeFileSync(join(suiteRoot, single.name), single.data);
    started = Date.now();
  });
  afterAll(async () => {
    if (suiteBucket !== undefined) await emptyAndDeleteBucket(client, suiteBucket);
  });

  // One test a round, run in order (a file's tests run one after another): each has the whole test
  // timeout, and a failure names its round. The rounds share the bucket, the source and the totals.
  it.each(ROUNDS)('round %i: put, get and sync through many faults: no corrupt object, no partial file, no deletion caused by a damaged answer, nothing written outside a destination', async (seed) => {
    const prefix = `suite-${seed}/`;
    const syncTarget = join(suiteRoot, `sync-${seed}`);
    const getTarget = join(suiteRoot, `get-${seed}`);
    const oneTarget = join(suiteRoot, `one-${seed}`);
    allowedPlaces.push(syncTarget, getTarget, oneTarget);
    // The sync target starts with most files right, some with other bytes of the same size, some
    // missing, and one file only it has: the one deletion that is right.
    const startedWith = new Map(
      files
        .filter((_, index) => index % 7 !== 3)
        .map(({ name, data }, index): [string, Buffer] => [name, index % 5 === 1 ? seededBytes(seed + index, data.length) : data]),
    );
    writeLocal(syncTarget, [...[...startedWith].map(([name, body]) => ({ name, body })), { name: 'only-here.txt', body: 'extra\n' }]);
    const before = new Set(pathsOutside(allowedPlaces));
    const round = { faults: 0, runsFailed: 0, corruptObjects: 0, partialFiles: 0, deletionsByDamage: 0, writesOutside: 0, debris: 0 };
    const roundStarted = Date.now();

    proxy.setRules(faultRules(), seed);
    const runs = [
      await run(['sync', source, `s3://${suiteBucket}/${prefix}`]),
      await run(['put', join(suiteRoot, single.name), `s3://${suiteBucket}/${prefix}single/${single.name}`]),
      await run(['sync', `s3://${suiteBucket}/${prefix}`, syncTarget, '--delete', '--exclude', 'single/**']),
      await run(['get', '--recursive', `s3://${suiteBucket}/${prefix}`, getTarget]),
      await run(['get', `s3://${suiteBucket}/${prefix}single/${single.name}`, join(oneTarget, single.name)]),
      await run(['ls', '--recursive', `s3://${suiteBucket}/${prefix}`]),
    ];
    round.runsFailed = runs.filter((result) => result.code === 1).length;
    for (const entry of proxy.log) if (entry.fault) byKind.set(entry.fault, (byKind.get(entry.fault) ?? 0) + 1);
    round.faults = proxy.faults();
    proxy.setRules([]);
    for (const result of runs) {
      // Faults or not: exit 0 or 1, and every line on stderr one of ours, never a stack trace.
      expect([0, 1], result.stderr).toContain(result.code);
      for (const line of result.stderr.trim().split('\n').filter(Boolean)) expect(line).toMatch(/^datalake: /);
    }

    // What the server holds: each object exactly the bytes of its source.
    const stored = await listKeys(client, suiteBucket!);
    for (const key of stored) {
      const name = key.slice(key.indexOf('/') + 1);
      const want = name === `single/${single.name}` ? single.data : expected.get(name);
      const body = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: suiteBucket, Key: key }))).Body!.transformToByteArray());
      if (!key.startsWith('suite-') || want === undefined || !body.equals(want)) round.corruptObjects += 1;
    }
    // What the targets hold: every file whole and right, or absent; datalake's temporary names counted apart.
    for (const [directory, wanted] of [
      [syncTarget, expected],
      [getTarget, new Map([...expected, [`single/${single.name}`, single.data]])],
      [oneTarget, new Map([[single.name, single.data]])],
    ] as const) {
      for (const [name, data] of filesUnder(directory)) {
        if (name.includes('.datalake-part')) round.debris += 1;
        else if (directory === syncTarget && (name === 'only-here.txt' || startedWith.get(name)?.equals(data))) continue;
        else if (!wanted.get(name)?.equals(data)) round.partialFiles += 1;
      }
    }
    // A file the sync target began with whose object is on the server (nothing in a round deletes one,
    // so it was there when the download sync listed) and is missing now was deleted because of a
    // damaged answer. One whose upload failed has no object: deleting it was right.
    const present = filesUnder(syncTarget);
    for (const name of startedWith.keys()) if (!present.has(name) && stored.includes(`${prefix}${name}`)) round.deletionsByDamage += 1;
    round.writesOutside = pathsOutside(allowedPlaces).filter((path) => !before.has(path)).length;

    for (const [name, count] of Object.entries(round)) totals[name as keyof typeof totals] += count;
    roundsChecked.push(seed);
    console.log(`fault suite, round ${seed}: ${round.faults} faults, ${round.runsFailed} of 6 commands ended 1, ${((Date.now() - roundStarted) / 1000).toFixed(1)} s`);
    expect(round, `round ${seed}`).toMatchObject({ corruptObjects: 0, partialFiles: 0, deletionsByDamage: 0, writesOutside: 0 });
  });

  it('with the faults gone, the same commands converge; over all rounds: many faults, no corrupt object, no partial file, no deletion caused by a damaged answer, nothing written outside a destination', async () => {
    expect(roundsChecked, 'every round ran to its checks').toEqual(ROUNDS);
    // With the faults gone, the same commands converge: everything arrives, nothing more is deleted.
    const last = ROUNDS[ROUNDS.length - 1];
    const upload = await run(['sync', source, `s3://${suiteBucket}/suite-${last}/`]);
    expect(upload.code, upload.stderr).toBe(0);
    const download = await run(['sync', `s3://${suiteBucket}/suite-${last}/`, join(suiteRoot, `sync-${last}`), '--delete', '--exclude', 'single/**']);
    expect(download.code, download.stderr).toBe(0);
    const converged = filesUnder(join(suiteRoot, `sync-${last}`));
    expect([...converged.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [name, data] of expected) expect(converged.get(name)?.equals(data), name).toBe(true);

    const kinds = [...byKind.entries()].sort().map(([kind, count]) => `${kind} ${count}`).join(', ');
    console.log(
      `fault suite: ${totals.faults} faults injected (${kinds}) in ${ROUNDS.length} rounds of 6 commands (${totals.runsFailed} ended 1), ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
        `${totals.corruptObjects} corrupt objects, ${totals.partialFiles} partial or corrupt files at targets, ` +
        `${totals.deletionsByDamage} deletions caused by damaged answers, ${totals.writesOutside} writes outside a destination ` +
        `(${totals.debris} temporary files left)`,
    );
    expect(totals.faults).toBeGreaterThan(50);
    expect(totals).toMatchObject({ corruptObjects: 0, partialFiles: 0, deletionsByDamage: 0, writesOutside: 0 });
  });
});

/**
 * What scripts read: stdout holds exactly the result (a presigned URL alone; one JSON document with
 * `--json`, an `error` inside it when the run fails), and `ls` names entries as `aws s3 ls` does.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileNameFor } from '../../src/core/config/state-paths.js';
import { acquireSyncLock } from '../../src/core/sync/lock.js';
import { escapeControls } from '../../src/cli/output.js';
import { BIN, LOG_ERROR, LOG_FATAL, createTestBucket, curl, emptyAndDeleteBucket, logRecords, runCli, s3Env, tempDirectory, testClient } from '../support/harness.js';

let client: S3Client;
let bucket: string;
const work = tempDirectory('cli-output');

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'cli-output');
  for (const key of ['raw/top.csv', 'raw/exports/a.csv', 'raw/exports/b.csv']) {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}` }));
  }
});
afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

/** The whole of stdout must be one JSON document: a script does `JSON.parse(stdout)`. */
function wholeJson(stdout: string): { error?: { code: string; message: string } } & Record<string, unknown> {
  expect(stdout.trim().split('\n')).toHaveLength(1);
  return JSON.parse(stdout) as { error?: { code: string; message: string } } & Record<string, unknown>;
}

describe('presign prints the URL alone on stdout', () => {
  it('so that curl "$(datalake presign …)" fetches the object', async () => {
    const result = await runCli(['presign', `s3://${bucket}/raw/top.csv`, '--expires', '10m']);
    expect(result.code).toBe(0);
    const url = result.stdout.trimEnd();
    expect(url.split('\n')).toHaveLength(1);
    expect(url).toMatch(/^http:\/\/.*X-Amz-Signature=/);
    expect(result.stderr).toMatch(/^expires \d{4}-/m);
    const fetched = curl([url]);
    expect(fetched.status).toBe(200);
    expect(fetched.body.toString()).toBe('body of raw/top.csv');
  });
});

describe('ls names entries relative to the listed folder, as aws s3 ls does', () => {
  it('one level: names relative to the folder; --full-key and --recursive: whole keys', async () => {
    const level = await runCli(['ls', `s3://${bucket}/raw/`]);
    expect(level.code).toBe(0);
    expect(level.stdout).toMatch(/PRE exports\/$/m);
    expect(level.stdout).toMatch(/ top\.csv$/m);
    expect(level.stdout).not.toMatch(/raw\/top\.csv/);

    const partial = await runCli(['ls', `s3://${bucket}/raw/exp`]);
    expect(partial.stdout).toMatch(/PRE exports\/$/m);

    const full = await runCli(['ls', `s3://${bucket}/raw/`, '--full-key']);
    expect(full.stdout).toMatch(/PRE raw\/exports\/$/m);
    expect(full.stdout).toMatch(/ raw\/top\.csv$/m);

    const recursive = await runCli(['ls', `s3://${bucket}/raw/`, '--recursive']);
    expect(recursive.stdout).toMatch(/ raw\/exports\/a\.csv$/m);
  });

  it('--json always carries whole keys', async () => {
    const result = await runCli(['ls', `s3://${bucket}/raw/`, '--json']);
    const listed = wholeJson(result.stdout) as { objects: Array<{ key: string }>; prefixes: string[] };
    expect(listed.objects.map((object) => object.key)).toEqual(['raw/top.csv']);
    expect(listed.prefixes).toEqual(['raw/exports/']);
  });
});

describe('--json prints one whole document on every failure', () => {
  it('a listing refused midway (wrong secret) still ends as one document with its error', async () => {
    const result = await runCli(['ls', `s3://${bucket}/raw/`, '--recursive', '--json'], { env: s3Env({ AWS_SECRET_ACCESS_KEY: 'wrong-secret-wrong-secret' }) });
    expect(result.code).toBe(1);
    const document = wholeJson(result.stdout);
    expect(document).toMatchObject({ objects: [], count: 0 });
    expect(document.error?.code).toBe('SignatureDoesNotMatch');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('bad input (exit 2) prints a document with a usage error', async () => {
    const missing = await runCli(['put', join(work.path, 'no-such-file.csv'), `s3://${bucket}/x.csv`, '--json']);
    expect(missing.code).toBe(2);
    expect(wholeJson(missing.stdout).error).toMatchObject({ code: 'usage', message: expect.stringMatching(/no-such-file\.csv/) });

    const unknownFlag = await runCli(['ls', '--no-such-flag', '--json']);
    expect(unknownFlag.code).toBe(2);
    expect(wholeJson(unknownFlag.stdout).error?.code).toBe('usage');
  });

  it('a run that ends on a missing bucket prints what completed beside the error', async () => {
    const file = join(work.path, 'one.csv');
    writeFileSync(file, 'one');
    const result = await runCli(['put', file, `s3://no-such-bucket-${bucket}/one.csv`, '--json']);
    expect(result.code).toBe(1);
    const document = wholeJson(result.stdout);
    expect(document).toMatchObject({ objects: [], error: { code: 'NoSuchBucket' } });
  });

  it('a sync refused by a held lock prints a document with the error', async () => {
    const tree = join(work.path, 'tree');
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, 'a.txt'), 'a');
    const state = join(work.path, 'state');
    // This test process holds the lock of exactly that sync, as a running sync would.
    const lockPath = join(state, 'locks', `${fileNameFor(`upload\0${resolve(tree)}\0s3://${bucket}/locked/\0all`)}.lock`);
    const release = await acquireSyncLock(lockPath, 'the test holding it');
    try {
      const refused = await runCli(['sync', tree, `s3://${bucket}/locked/`, '--json'], { env: s3Env({ DATALAKE_STATE_DIR: state }) });
      expect(refused.code).toBe(1);
      expect(wholeJson(refused.stdout).error?.message).toMatch(/another sync/);
    } finally {
      await release();
    }
  });
});

describe('help', () => {
  it('states the defaults the code uses, and every command shows the global options', async () => {
    const { DEFAULT_CONCURRENCY, DEFAULT_RETRIES, DEFAULT_TIMEOUT } = await import('../../src/core/config/config.js');
    const top = await runCli(['--help']);
    // A description wrapped onto the next lines, read as one.
    top.stdout = top.stdout.replace(/\n {20,}/g, ' ');
    expect(top.stdout).toMatch(new RegExp(`--concurrency <n>[^\\n]*default ${DEFAULT_CONCURRENCY}\\b`));
    expect(top.stdout).toMatch(new RegExp(`--retries <n>[^\\n]*default ${DEFAULT_RETRIES}\\b`));
    expect(top.stdout).toMatch(new RegExp(`--timeout <duration>[^\\n]*default ${DEFAULT_TIMEOUT}\\b`));
    const put = await runCli(['put', '--help']);
    expect(put.stdout).toMatch(/Global Options:/);
    expect(put.stdout).toMatch(/--json/);
    expect(put.stdout).toMatch(/--bucket <name>/);
    expect(put.stdout).toMatch(/^ {2}datalake put .*--no-clobber/m);
  });

  it('.env.example states the same defaults', async () => {
    const { readFileSync } = await import('node:fs');
    const { DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE, DEFAULT_TIMEOUT } = await import('../../src/core/config/config.js');
    const { DEFAULT_LAYOUT } = await import('../../src/core/config/layout.js');
    const example = readFileSync(resolve(import.meta.dirname, '../../.env.example'), 'utf8');
    expect(example).toMatch(new RegExp(`^# DATALAKE_CONCURRENCY=${DEFAULT_CONCURRENCY}$`, 'm'));
    expect(example).toMatch(new RegExp(`^# DATALAKE_PART_SIZE=${DEFAULT_PART_SIZE / 1024 / 1024}MiB$`, 'm'));
    expect(example).toContain(`# DATALAKE_LAYOUT=${DEFAULT_LAYOUT}\n`);
    expect(example).toMatch(new RegExp(`^# DATALAKE_TIMEOUT=${DEFAULT_TIMEOUT}$`, 'm'));
  });

  it('presign states the defaults it uses, from the same constants', async () => {
    const { DEFAULT_PRESIGN_EXPIRES, DEFAULT_PRESIGN_MAX_SIZE } = await import('../../src/core/s3/presign-request.js');
    const help = (await runCli(['presign', '--help'])).stdout.replace(/\n {20,}/g, ' ');
    expect(help).toMatch(new RegExp(`--expires <duration>[^\\n]*\\(default: "${DEFAULT_PRESIGN_EXPIRES}"\\)`));
    expect(help).toMatch(new RegExp(`--max-size <size>[^\\n]*\\(default: "${DEFAULT_PRESIGN_MAX_SIZE}"\\)`));
  });

  it('cp, mv, get, cat and verify name the proofs the code takes, in its order, as the README does', async () => {
    const { readFileSync } = await import('node:fs');
    // Wrapped lines read as one, Markdown's backticks dropped.
    const flat = (text: string) => text.replace(/`/g, '').replace(/\s+/g, ' ');
    const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');
    const section = (heading: string) => flat(readme.slice(readme.indexOf(heading), readme.indexOf('\n#', readme.indexOf(heading) + heading.length)));
    const help = async (command: string) => flat((await runCli([command, '--help'])).stdout);
    // copy-proof.ts: proveCopy, else readBack.
    const copyProofs =
      "its ETag, where both ETags are MD5s, and any full-object checksum both carry must be the source's; else it is read back and hashed against the source's full-object CRC32, stored MD5 or ETag";
    const multipartCopy = "A multipart copy keeps the source's ETag, and its full-object CRC32 only where the server takes checksums on part copies (MinIO does not)";
    // checksums.ts: contentProofOf.
    const downloadProofs =
      'its full-object CRC32, else its composite CRC32 (part by part), else the same two for CRC32C, else its stored MD5 (md5chksum), else a plain-MD5 ETag, else the multipart ETag recomputed part by part';
    for (const command of ['cp', 'mv']) expect(await help(command), `${command} --help`).toContain(copyProofs);
    expect(await help('cp')).toContain(multipartCopy);
    for (const command of ['get', 'cat', 'verify']) expect(await help(command), `${command} --help`).toContain(downloadProofs);
    for (const heading of ['### `datalake cp SRC DST`', '## Integrity guarantees']) expect(section(heading), heading).toContain(copyProofs);
    expect(section('### `datalake cp SRC DST`')).toContain(multipartCopy);
    for (const heading of ['### `datalake cat OBJECT`', '### `datalake verify SRC [--local PATH]`', '## Integrity guarantees']) expect(section(heading), heading).toContain(downloadProofs);
  });

  it('every help, top-level and per command, fits 80 columns when stdout is not a terminal', async () => {
    const { buildProgram } = await import('../../src/cli/main.js');
    const paths = buildProgram().commands.flatMap((command) => [[command.name()], ...command.commands.map((sub) => [command.name(), sub.name()])]);
    expect(paths.length).toBeGreaterThan(12);
    for (const path of [[], ...paths]) {
      const help = await runCli([...path, '--help'], { env: s3Env({ COLUMNS: undefined }) });
      expect(help.code, path.join(' ')).toBe(0);
      const tooWide = help.stdout.split('\n').filter((line) => line.length > 80);
      expect(tooWide, `datalake ${path.join(' ')} --help`).toEqual([]);
    }
  });
});


describe('put names what it was given', () => {
  it('standard input is typed by the key it goes to, and reported so', async () => {
    const csv = await runCli(['put', '-', `s3://${bucket}/stdin/rows.csv`, '--json'], { input: 'a,b\n1,2\n' });
    expect(csv.code).toBe(0);
    expect(wholeJson(csv.stdout)).toMatchObject({ objects: [{ key: 'stdin/rows.csv', contentType: 'text/csv' }] });
    const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
    expect((await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'stdin/rows.csv' }))).ContentType).toBe('text/csv');
    const unknown = await runCli(['put', '-', `s3://${bucket}/stdin/blob`, '--json'], { input: 'xyz' });
    expect(wholeJson(unknown.stdout)).toMatchObject({ objects: [{ contentType: 'application/octet-stream' }] });
  });

  it('an S3 address given as the file to upload is refused as such (exit 2), nothing sent', async () => {
    const result = await runCli(['put', `s3://${bucket}/raw/top.csv`, `s3://${bucket}/copy/top.csv`]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/is an S3 address: put uploads local files/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('errors name what is wrong, where', () => {
  it('a state directory that cannot be written is named as datalake\'s state directory, with the setting to change', async () => {
    const blocker = join(work.path, 'not-a-folder');
    writeFileSync(blocker, 'a file where the state directory would go');
    const tree = join(work.path, 'state-tree');
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, 'a.csv'), 'a');
    const state = join(blocker, '.datalake', 'state');
    const result = await runCli(['sync', tree, `s3://${bucket}/state-tree/`, '--json'], { env: s3Env({ DATALAKE_STATE_DIR: state }) });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr.trim()).toBe(`datalake: error: cannot write datalake's state directory ${state}: ENOTDIR at ${join(state, 'locks')} (set DATALAKE_STATE_DIR to a folder this user can write)`);
  });

  const missing = () => `no-such-bucket-${bucket}`.slice(0, 63);

  it('a missing bucket named in the command is the one the message names, whatever is configured', async () => {
    const env = s3Env({ DATALAKE_BUCKET: bucket });
    const file = join(work.path, 'named.csv');
    writeFileSync(file, 'x');
    const put = await runCli(['put', file, `s3://${missing()}/x.csv`], { env });
    expect(put.code).toBe(1);
    expect(put.stderr).toMatch(new RegExp(`no such bucket '${missing()}'`));
    const get = await runCli(['get', `s3://${missing()}/x.csv`, join(work.path, 'x.csv')], { env });
    expect(get.code).toBe(1);
    expect(get.stderr).toMatch(new RegExp(`no such bucket '${missing()}'`));
    const verify = await runCli(['verify', `s3://${missing()}/x.csv`], { env });
    expect(verify.stderr).toMatch(new RegExp(`no such bucket '${missing()}'`));
    const ls = await runCli(['ls', `s3://${missing()}/raw/`], { env });
    expect(ls.code).toBe(1);
    expect(ls.stderr).toMatch(new RegExp(`no such bucket '${missing()}'`));
  });

  it('cp, mv, stat, rm, cat, get -r and sync name the missing bucket the command named, and a missing object by its key', async () => {
    const env = s3Env({ DATALAKE_BUCKET: bucket });
    const runs: Array<{ args: string[]; names: RegExp }> = [
      { args: ['cp', `s3://${missing()}/x.csv`, `s3://${bucket}/copy/x.csv`], names: new RegExp(`no such bucket '${missing()}'`) },
      // MinIO's own answer names the source bucket here: the message must name the destination's.
      { args: ['cp', `s3://${bucket}/raw/top.csv`, `s3://${missing()}/x.csv`], names: new RegExp(`no such bucket '${missing()}'`) },
      { args: ['cp', `s3://${bucket}/raw/nothing.csv`, `s3://${bucket}/copy/x.csv`], names: new RegExp(`no such object s3://${bucket}/raw/nothing\\.csv`) },
      { args: ['mv', `s3://${missing()}/x.csv`, `s3://${bucket}/moved/x.csv`], names: new RegExp(`no such bucket '${missing()}'`) },
      { args: ['mv', `s3://${bucket}/raw/top.csv`, `s3://${missing()}/x.csv`], names: new RegExp(`no such bucket '${missing()}'`) },
      { args: ['stat', `s3://${missing()}/x.csv`], names: new RegExp(`no such bucket '${missing()}'`) },
      { args: ['stat', `s3://${bucket}/raw/nothing.csv`], names: new RegExp(`no such object s3://${bucket}/raw/nothing\\.csv`) },
      { args: ['rm', `s3://${missing()}/x.csv`], names: new RegExp(`no such bucket '${missing()}'`) },
      { args: ['rm', `s3://${bucket}/raw/nothing.csv`], names: new RegExp(`no such object s3://${bucket}/raw/nothing\\.csv`) },
      { args: ['cat', `s3://${missing()}/x.csv`], names: new RegExp(`no such bucket '${missing()}'`) },
      { args: ['get', '-r', `s3://${missing()}/p/`, join(work.path, 'missing-get')], names: new RegExp(`no such bucket '${missing()}'`) },
      { args: ['sync', `s3://${missing()}/p/`, join(work.path, 'missing-sync')], names: new RegExp(`no such bucket '${missing()}'`) },
    ];
    for (const run of runs) {
      const result = await runCli(run.args, { env });
      expect(result.code, run.args.join(' ')).toBe(1);
      expect(result.stderr.trim().split('\n'), run.args.join(' ')).toHaveLength(1);
      expect(result.stderr, run.args.join(' ')).toMatch(run.names);
    }
    // mv left its source where it was.
    expect((await runCli(['stat', `s3://${bucket}/raw/top.csv`])).code).toBe(0);
  });

  it('stat --version-id that the server refuses is one clear line naming the flag, exit 2; one that is not there names the version, exit 1', async () => {
    const bogus = await runCli(['stat', `s3://${bucket}/raw/top.csv`, '--version-id', 'bogus', '--json']);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr.trim().split('\n')).toHaveLength(1);
    expect(bogus.stderr).toMatch(/invalid --version-id 'bogus'/);
    expect(bogus.stderr).not.toMatch(/UnknownError/);
    expect(wholeJson(bogus.stdout).error).toMatchObject({ code: 'usage' });
    const absent = await runCli(['stat', `s3://${bucket}/raw/top.csv`, '--version-id', '0b5c2e1a-6d8e-4f3b-9a7c-1e2d3f4a5b6c']);
    expect(absent.code).toBe(1);
    expect(absent.stderr.trim().split('\n')).toHaveLength(1);
    expect(absent.stderr).toMatch(new RegExp(`no version '0b5c2e1a-6d8e-4f3b-9a7c-1e2d3f4a5b6c' of s3://${bucket}/raw/top\\.csv`));
  });

  it('get -r refuses a key with a backslash for its backslash, not as a key that would land outside the destination', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'bs/back\\slash.csv', Body: 'b' }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'bs/fine.csv', Body: 'f' }));
    const destination = join(work.path, 'backslash-get');
    const result = await runCli(['get', '-r', `s3://${bucket}/bs/`, destination, '--json']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      "datalake: failed: bs/back\\\\slash.csv: key 'bs/back\\\\slash.csv' has a backslash in its name, which datalake does not write as a file name (it separates folders on Windows); skipped",
    );
    expect(wholeJson(result.stdout)).toMatchObject({ objects: [{ key: 'bs/fine.csv' }], failed: [{ key: 'bs/back\\slash.csv' }] });
  });

  it('DATALAKE_CONCURRENCY that is not a number is one line naming the variable, exit 2', async () => {
    const result = await runCli(['ls', `s3://${bucket}/raw/`], { env: s3Env({ DATALAKE_CONCURRENCY: 'abc' }) });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/invalid concurrency in DATALAKE_CONCURRENCY 'abc'/);
    expect(result.stdout).toBe('');
  });

  it('rm --all-versions --dry-run needs no --yes: a dry run deletes nothing', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'dry/a.csv', Body: 'a' }));
    const result = await runCli(['rm', '-r', `s3://${bucket}/dry/`, '--all-versions', '--dry-run', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.stringify(wholeJson(result.stdout))).toMatch(/dry\/a\.csv/);
    expect((await runCli(['stat', `s3://${bucket}/dry/a.csv`])).code).toBe(0);
  });

  it('s3:// with no bucket says so (exit 2), even with a bucket configured', async () => {
    const result = await runCli(['get', 's3://', join(work.path, 'out')], { env: s3Env({ DATALAKE_BUCKET: bucket }) });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/'s3:\/\/' names no bucket/);
  });

  it('verify --local names the local file that differs', async () => {
    const file = join(work.path, 'top-local.csv');
    writeFileSync(file, 'body of raw/top.cs!');
    const result = await runCli(['verify', `s3://${bucket}/raw/top.csv`, '--local', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`content differs from the local file ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    // Decided by the plain-MD5 ETag (a single PUT): the line gives both sides of that proof, no undefined.
    expect(result.stderr).toMatch(/\(object ETag [0-9a-f]{32}, file MD5 [0-9a-f]{32}\)/);
    expect(result.stderr).not.toMatch(/undefined/);
  });

  it('verify of a damaged object says the object is damaged, not that bytes went to standard output', async () => {
    const { createHash } = await import('node:crypto');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'damaged/obj.txt', Body: 'actual bytes', Metadata: { md5chksum: createHash('md5').update('other bytes').digest('base64') } }));
    const result = await runCli(['verify', `s3://${bucket}/damaged/obj.txt`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/do not match its own checksum/);
    expect(result.stderr).not.toMatch(/standard output/);
  });

  it('--endpoint on the command line is the endpoint the message names', async () => {
    const { freePort } = await import('../../scripts/lib/minio.js');
    const closed = `http://127.0.0.1:${await freePort()}`;
    for (const args of [['ls', `s3://${bucket}/`], ['sync', work.path, `s3://${bucket}/sync/`]]) {
      const result = await runCli([...args, '--endpoint', closed]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(closed);
    }
  });

  it('init with a wrong secret says the credentials were refused, not that the bucket is someone else’s', async () => {
    const result = await runCli(['init', bucket], { env: s3Env({ AWS_SECRET_ACCESS_KEY: 'wrong-secret-wrong-secret' }) });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/rejected the credentials/);
    expect(result.stderr).not.toMatch(/another account/);
  });
});

describe('--exclude/--include on put -r, get -r and verify -r, with sync rules', () => {
  it('each takes exactly the names the rules leave in; without --recursive the flags are bad input', async () => {
    const tree = join(work.path, 'filtered');
    mkdirSync(join(tree, 'debug'), { recursive: true });
    for (const name of ['a.csv', 'b.tmp', 'debug/x.log', 'debug/keep.log']) writeFileSync(join(tree, name), name);
    const rules = ['--exclude', '*.tmp', '--exclude', 'debug/**', '--include', 'debug/keep.log'];
    const put = await runCli(['put', '-r', tree, `s3://${bucket}/filtered/`, ...rules, '--json']);
    expect(put.code).toBe(0);
    const { listKeys } = await import('../support/harness.js');
    expect((await listKeys(client, bucket, 'filtered/')).sort()).toEqual(['filtered/a.csv', 'filtered/debug/keep.log']);

    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'filtered/c.tmp', Body: 'c' }));
    const down = join(work.path, 'filtered-down');
    const get = await runCli(['get', '-r', `s3://${bucket}/filtered/`, down, '--exclude', '*.tmp', '--json']);
    expect(get.code).toBe(0);
    expect((wholeJson(get.stdout) as { objects: Array<{ key: string }> }).objects.map((object) => object.key).sort()).toEqual(['filtered/a.csv', 'filtered/debug/keep.log']);
    // In text, each file's line names its proof, and a summary line ends the run.
    const text = await runCli(['get', '-r', `s3://${bucket}/filtered/`, join(work.path, 'filtered-text'), '--exclude', '*.tmp']);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines.filter((line) => line.startsWith('downloaded ')).every((line) => / {2}verified by (crc32|etag|metadata-md5)$/.test(line))).toBe(true);
    expect(lines.filter((line) => line.startsWith('downloaded '))).toHaveLength(2);
    expect(lines.at(-1)).toMatch(/^2 downloaded, 0 skipped, 0 failed, \d+ B$/);

    // The local tree's b.tmp and debug/x.log and the bucket's c.tmp are left out on both sides: all intact.
    const verify = await runCli(['verify', `s3://${bucket}/filtered/`, '--local', tree, ...rules, '--exclude', 'c.tmp', '--json']);
    expect(verify.code).toBe(0);
    expect(wholeJson(verify.stdout)).toMatchObject({ ok: true, checked: 2, missing: [], extra: [] });

    const alone = await runCli(['put', join(tree, 'a.csv'), `s3://${bucket}/one.csv`, '--exclude', '*.tmp']);
    expect(alone.code).toBe(2);
    expect(alone.stderr.trim()).toMatch(/--exclude and --include go with --recursive/);
  });
});

describe('--no-clobber on put and get', () => {
  it('leaves what is already at the destination alone and reports it skipped', async () => {
    const file = join(work.path, 'nc.csv');
    writeFileSync(file, 'first');
    expect((await runCli(['put', file, `s3://${bucket}/nc/nc.csv`])).code).toBe(0);
    writeFileSync(file, 'second');
    const put = await runCli(['put', file, `s3://${bucket}/nc/nc.csv`, '--no-clobber', '--json']);
    expect(put.code).toBe(0);
    expect(wholeJson(put.stdout)).toMatchObject({ objects: [], skipped: [{ key: 'nc/nc.csv', reason: 'exists' }] });
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    expect(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'nc/nc.csv' }))).Body!.transformToString()).toBe('first');

    const down = join(work.path, 'nc-down');
    mkdirSync(down, { recursive: true });
    writeFileSync(join(down, 'nc.csv'), 'local');
    const single = await runCli(['get', `s3://${bucket}/nc/nc.csv`, join(down, 'nc.csv'), '-n', '--json']);
    expect(single.code).toBe(0);
    expect(wholeJson(single.stdout)).toMatchObject({ objects: [], skipped: [{ key: 'nc/nc.csv' }] });
    const tree = await runCli(['get', '-r', `s3://${bucket}/nc/`, down, '--no-clobber', '--json']);
    expect(tree.code).toBe(0);
    expect(wholeJson(tree.stdout)).toMatchObject({ objects: [], skipped: [{ key: 'nc/nc.csv' }] });
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(join(down, 'nc.csv'), 'utf8')).toBe('local');
  });

  it('the skip line names what is skipped, then the destination that exists, the same way for put, get, get -r and cp', async () => {
    const file = join(work.path, 'nc-line.csv');
    writeFileSync(file, 'first');
    expect((await runCli(['put', file, `s3://${bucket}/ncl/a.csv`])).code).toBe(0);
    expect((await runCli(['put', file, `s3://${bucket}/ncl/b.csv`])).code).toBe(0);
    const down = join(work.path, 'ncl-down');
    mkdirSync(down, { recursive: true });
    writeFileSync(join(down, 'a.csv'), 'local');
    const lines: Array<[string[], string]> = [
      [['put', file, `s3://${bucket}/ncl/a.csv`, '-n'], `skipped ${file}: s3://${bucket}/ncl/a.csv exists (--no-clobber)`],
      [['get', `s3://${bucket}/ncl/a.csv`, join(down, 'a.csv'), '-n'], `skipped s3://${bucket}/ncl/a.csv: ${join(down, 'a.csv')} exists (--no-clobber)`],
      [['get', '-r', `s3://${bucket}/ncl/`, down, '-n', '--exclude', 'b.csv'], `skipped s3://${bucket}/ncl/a.csv: ${join(down, 'a.csv')} exists (--no-clobber)`],
      [['cp', `s3://${bucket}/ncl/a.csv`, `s3://${bucket}/ncl/b.csv`, '-n'], `skipped s3://${bucket}/ncl/a.csv: s3://${bucket}/ncl/b.csv exists (--no-clobber)`],
    ];
    for (const [args, line] of lines) {
      const result = await runCli(args);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.split('\n')[0], args.join(' ')).toBe(line);
    }
  });
});

describe('--no-clobber with a source that does not exist', () => {
  it('get -n and cp -n fail as get and cp do (exit 1, naming the source), even where the destination exists: a misspelt key is no skip', async () => {
    const file = join(work.path, 'nc-missing.csv');
    writeFileSync(file, 'local');
    expect((await runCli(['put', file, `s3://${bucket}/ncm/existing.csv`])).code).toBe(0);
    const missing = `s3://${bucket}/ncm/doesnotexist.csv`;
    for (const args of [
      ['get', missing, file],
      ['cp', missing, `s3://${bucket}/ncm/existing.csv`],
    ]) {
      const plain = await runCli([...args, '--json']);
      expect(plain.code, plain.stderr).toBe(1);
      expect(plain.stderr).toContain(`no such object ${missing}`);
      for (const flag of ['-n', '--no-clobber']) {
        const result = await runCli([...args, flag, '--json']);
        expect(result.code, `${args.join(' ')} ${flag}: ${result.stdout}`).toBe(1);
        expect(result.stderr).toBe(plain.stderr);
        const json = wholeJson(result.stdout);
        expect(json).toMatchObject({ objects: [], failed: [{ key: 'ncm/doesnotexist.csv' }] });
        expect(json.skipped ?? [], args[0]).toEqual([]);
      }
    }
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(file, 'utf8')).toBe('local');
  });
});

describe('verify of a prefix with nothing under it', () => {
  it('proves nothing: exit 1, naming it (a misspelt prefix must not pass as intact)', async () => {
    const result = await runCli(['verify', `s3://${bucket}/no-such-prefix/`, '--json']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no objects under this prefix: nothing was verified/);
    expect(wholeJson(result.stdout)).toMatchObject({ ok: false, checked: 0 });
  });
});

describe('control characters in names never reach the terminal raw', () => {
  // A key or file name with a carriage return could overwrite the line it is printed on, an escape
  // sequence restyle the terminal: printed, they are escaped (`\r`, `\t`, `\x1b`), in lines and failures alike.
  const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

  it('ls names a key with a carriage return and a tab escaped', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'ctl/over\rwrite\tme.txt', Body: 'x' }));
    const result = await runCli(['ls', `s3://${bucket}/ctl/`]);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toMatch(raw);
    expect(result.stdout).toContain('over\\rwrite\\tme.txt');
  });

  it('get -r: the failure line names the key escaped', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'ctl/over\rwrite\tme.txt', Body: 'x' }));
    const destination = join(work.path, 'control-get');
    // A folder where the download would go: that one object fails, named.
    mkdirSync(join(destination, 'over\rwrite\tme.txt'), { recursive: true });
    writeFileSync(join(destination, 'over\rwrite\tme.txt', 'keep'), 'a folder of the user');
    const result = await runCli(['get', '-r', `s3://${bucket}/ctl/`, destination]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^datalake: failed: /m);
    expect(result.stderr).not.toMatch(raw);
    expect(result.stderr).toContain('over\\rwrite\\tme.txt');
  });

  it('a key with a line break, which S3 allows, can be stat\'d, read, fetched, copied and moved; lines name it escaped', async () => {
    const key = 'nl/new\nline.csv';
    const url = `s3://${bucket}/${key}`;
    const shown = `s3://${bucket}/nl/new\\nline.csv`;
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'a,b\n' }));
    const stat = await runCli(['stat', url]);
    expect(stat.code, stat.stderr).toBe(0);
    expect(stat.stdout.split('\n')[0]).toBe(shown);
    expect(JSON.parse((await runCli(['stat', url, '--json'])).stdout)).toMatchObject({ key, size: 4 });
    const cat = await runCli(['cat', url]);
    expect(cat.code, cat.stderr).toBe(0);
    expect(cat.stdout).toBe('a,b\n');
    const got = await runCli(['get', url, join(work.path, 'newline.csv')]);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toContain(`downloaded ${shown} → `);
    const copied = await runCli(['cp', url, `s3://${bucket}/nl-copy/`]);
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.stdout).toContain(`copied ${shown} → s3://${bucket}/nl-copy/new\\nline.csv`);
    const moved = await runCli(['mv', '-r', `s3://${bucket}/nl-copy/`, `s3://${bucket}/nl-moved/`, '--json']);
    expect(moved.code, moved.stderr).toBe(0);
    expect(wholeJson(moved.stdout)).toMatchObject({ objects: [{ key: 'nl-moved/new\nline.csv', sourceDeleted: true }], failed: [] });
    const single = await runCli(['mv', `s3://${bucket}/nl-moved/new\nline.csv`, `s3://${bucket}/nl-last/`]);
    expect(single.code, single.stderr).toBe(0);
    expect(single.stdout).toContain(`moved s3://${bucket}/nl-moved/new\\nline.csv → s3://${bucket}/nl-last/new\\nline.csv`);
  });

  it('a key datalake would make from a name given with a control character is refused (exit 2), quoted once and escaped', async () => {
    const file = join(work.path, 'plain.csv');
    writeFileSync(file, 'x');
    for (const args of [
      ['put', file, `s3://${bucket}/nl/typed\nkey.csv`],
      ['cp', `s3://${bucket}/raw/top.csv`, `s3://${bucket}/nl/typed\nkey.csv`],
    ]) {
      const result = await runCli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr.trim()).toBe("datalake: error: invalid key 'nl/typed\\nkey.csv': control characters are not allowed in a key datalake makes (S3 allows them, but they break listings, logs and most readers)");
    }
  });

  it('--json escapes DEL and C1 controls (\\u007f, \\u009b) as JSON escapes C0 ones: streamed (ls), whole (stat, get), a failure document', async () => {
    const key = 'wide/del\u007f-csi\u009b2J-nel\u0085-rlo\u202e.txt';
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
    const rawInJson = /[\u007f-\u009f\u202e]/;
    const ls = await runCli(['ls', '-r', `s3://${bucket}/wide/`, '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).not.toMatch(rawInJson);
    expect(ls.stdout).toContain('del\\u007f-csi\\u009b2J-nel\\u0085-rlo\\u202e.txt');
    expect((wholeJson(ls.stdout) as { objects: Array<{ key: string }> }).objects.map((object) => object.key)).toEqual([key]);
    const stat = await runCli(['stat', `s3://${bucket}/${key}`, '--json']);
    expect(stat.code, stat.stderr).toBe(0);
    expect(stat.stdout).not.toMatch(rawInJson);
    expect(wholeJson(stat.stdout)).toMatchObject({ key });
    const get = await runCli(['get', `s3://${bucket}/${key}`, join(work.path, 'wide.txt'), '--json']);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).not.toMatch(rawInJson);
    expect(wholeJson(get.stdout)).toMatchObject({ objects: [{ key }] });
    const missing = await runCli(['rm', `s3://${bucket}/wide/gone\u0085\u202e.txt`, '--json']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).not.toMatch(rawInJson);
    expect(wholeJson(missing.stdout).error?.code).toBeDefined();
  });

  it('human lines escape bidi controls (U+202E and the like), which would show a name reversed', async () => {
    const key = 'bidi/invoice\u202eFDP.exe';
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
    const bidi = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
    const ls = await runCli(['ls', '-r', `s3://${bucket}/bidi/`]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).not.toMatch(bidi);
    expect(ls.stdout).toContain('bidi/invoice\\u202eFDP.exe');
    const stat = await runCli(['stat', `s3://${bucket}/${key}`]);
    expect(stat.stdout.split('\n')[0]).toBe(`s3://${bucket}/bidi/invoice\\u202eFDP.exe`);
    const missing = await runCli(['stat', `s3://${bucket}/bidi/\u2067isolate\u2069\u200f.txt`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).not.toMatch(bidi);
    expect(missing.stderr).toContain('bidi/\\u2067isolate\\u2069\\u200f.txt');
    // Log lines on stderr (--log-level alone) are JSON, escaped as --json is.
    const logged = await runCli(['get', `s3://${bucket}/${key}`, join(work.path, 'bidi.exe'), '--log-level', 'debug']);
    expect(logged.code, logged.stderr).toBe(0);
    expect(logged.stderr).toContain('"key":"bidi/invoice\\u202eFDP.exe"');
    expect(logged.stderr).not.toMatch(bidi);
  });

  it('--log-file and --log-level write JSON lines: one record a line, each read back by JSON.parse', async () => {
    const key = 'logged/nel\u0085-rlo\u202e.txt';
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
    const log = join(work.path, 'lines.jsonl');
    for (const args of [['stat', `s3://${bucket}/${key}`], ['get', `s3://${bucket}/${key}`, join(work.path, 'logged.txt')]]) {
      const result = await runCli([...args, '--log-file', log, '--log-level', 'debug']);
      expect(result.code, result.stderr).toBe(0);
    }
    const lines = readFileSync(log, 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.length).toBeGreaterThan(2);
    const records = lines.map((line) => JSON.parse(line) as { msg?: string; key?: string });
    expect(records.filter((record) => record.key === key).length).toBeGreaterThan(0);
    const onStderr = await runCli(['ls', `s3://${bucket}/logged/`, '--log-level', 'debug']);
    const stderrLines = onStderr.stderr.split('\n').filter((line) => line.startsWith('{'));
    expect(stderrLines.length).toBeGreaterThan(0);
    for (const line of stderrLines) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('two keys never print alike: a control character, its escape written out, and invisible characters each print apart', async () => {
    const keys = ['twin/c01-\u0001x', 'twin/c01-\\x01x', 'twin/zw\u200bx', 'twin/zwx', 'twin/ls\u2028x'];
    for (const key of keys) await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
    const ls = await runCli(['ls', '-r', `s3://${bucket}/twin/`]);
    expect(ls.code, ls.stderr).toBe(0);
    const names = ls.stdout.trim().split('\n').filter((line) => /^\d{4}-/.test(line)).map((line) => line.slice(line.indexOf('twin/')));
    expect(new Set(names).size).toBe(keys.length);
    expect(names).toEqual(expect.arrayContaining(['twin/c01-\\x01x', 'twin/c01-\\\\x01x', 'twin/zw\\u200bx', 'twin/zwx', 'twin/ls\\u2028x']));
  });

  it('sync up: the failure line names a file with an escape sequence in its name escaped', async () => {
    const source = join(work.path, 'control-sync');
    mkdirSync(source, { recursive: true });
    writeFileSync(join(source, 'clear\u001b[2Jscreen.txt'), 'a name a key may not carry');
    const result = await runCli(['sync', source, `s3://${bucket}/ctl-sync/`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^datalake: failed: /m);
    expect(result.stderr).not.toMatch(raw);
    expect(result.stderr).toContain('clear\\x1b[2Jscreen.txt');
  });
});

/**
 * A cron job that reads only the `--log-file` sees every failure: each item a run fails and goes on
 * from is one record at level error (what, where, why: the line stderr shows), and a run that fails
 * ends the log with one record of it and its exit code — never a secret.
 */
describe('the log tells every failure', () => {
  const LONG = `lg/cp/${Array.from({ length: 5 }, () => 'n'.repeat(200)).join('/')}/x.csv`;
  const local = join(work.path, 'logged-failures');
  const badName = Buffer.concat([Buffer.from(join(local, 'up', 'bad')), Buffer.from([0xff]), Buffer.from('.txt')]);

  beforeAll(async () => {
    mkdirSync(join(local, 'up'), { recursive: true });
    writeFileSync(join(local, 'up', 'ok.txt'), 'ok');
    // Not UTF-8: no key can be made of it (put -r and sync up fail it alone).
    writeFileSync(badName, 'bad');
    mkdirSync(join(local, 'verify'), { recursive: true });
    writeFileSync(join(local, 'verify', 'here.csv'), 'body of lg/ver/here.csv');
    const keys = ['lg/get/ok.csv', 'lg/get/bs\\x', 'lg/ver/here.csv', 'lg/ver/gone.csv', 'lg/cp/ok.csv', LONG, 'lg/mv/ok.csv', LONG.replace('lg/cp/', 'lg/mv/')];
    for (const key of keys) await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}` }));
  });

  /** A run with --json and its own --log-file: its exit code, its failed items as --json lists them, its log. */
  async function logged(label: string, args: string[]) {
    const log = join(local, `${label}.log`);
    const result = await runCli([...args, '--json', '--log-file', log]);
    const document = JSON.parse(result.stdout) as { failed: Array<{ key?: string; path?: string }> | number; errors?: Array<{ name: string }>; missing?: string[] };
    return { result, document, records: logRecords(log) };
  }

  it('put -r, get -r, sync up and down, cp -r, mv -r and verify -r: one error record for each failed item, and the run\'s end with exit code 1', async () => {
    const runs: Array<[string, string[], string]> = [
      // Named as lines name them: the byte that is not UTF-8 as \xff, a backslash doubled.
      ['put', ['put', '-r', join(local, 'up'), `s3://${bucket}/lg/put/`], 'bad\\xff.txt'],
      ['get', ['get', '-r', `s3://${bucket}/lg/get/`, join(local, 'got')], 'bs\\\\x'],
      ['sync-up', ['sync', join(local, 'up'), `s3://${bucket}/lg/sync/`], 'bad\\xff.txt'],
      ['sync-down', ['sync', `s3://${bucket}/lg/get/`, join(local, 'synced')], 'bs\\\\x'],
      ['cp', ['cp', '-r', `s3://${bucket}/lg/cp/`, `s3://${bucket}/a-longer-destination/`], LONG],
      ['mv', ['mv', '-r', `s3://${bucket}/lg/mv/`, `s3://${bucket}/a-longer-destination/`], LONG.replace('lg/cp/', 'lg/mv/')],
      ['verify', ['verify', '-r', `s3://${bucket}/lg/ver/`, '--local', join(local, 'verify')], 'lg/ver/gone.csv'],
    ];
    for (const [label, args, named] of runs) {
      const { result, document, records } = await logged(label, args);
      expect(result.code, `${label}: ${result.stderr}`).toBe(1);
      const failedLines = result.stderr.split('\n').filter((line) => line.startsWith('datalake: failed: '));
      expect(failedLines, `${label}: ${result.stderr}`).toHaveLength(1);
      const itemRecords = records.filter((record) => record.msg === 'item failed');
      expect(itemRecords, label).toHaveLength(1);
      const [item] = itemRecords;
      expect(item!.level, label).toBe(LOG_ERROR);
      // What the line names, where, and the same reason.
      expect(failedLines[0], label).toBe(`datalake: failed: ${escapeControls(item!.item as string)}: ${item!.error as string}`);
      expect(failedLines[0], label).toContain(named);
      expect(item!.key ?? item!.path, label).toEqual(expect.any(String));
      const listed = Array.isArray(document.failed) ? document.failed.length : (document.missing?.length ?? document.errors?.length);
      expect(listed, label).toBe(1);
      // Only failures are at error level: the item's, then the run's end.
      const errors = records.filter((record) => record.level >= LOG_ERROR);
      expect(errors.map((record) => record.msg), label).toEqual(['item failed', 'run failed: 1 item failed']);
      expect(errors[1], label).toMatchObject({ level: LOG_ERROR, exitCode: 1, failed: 1 });
      expect(JSON.stringify(records), label).not.toContain(s3Env().AWS_SECRET_ACCESS_KEY);
    }
  });

  it("a run's fatal error is one record at level fatal: the line stderr shows, and the exit code", async () => {
    const log = join(local, 'fatal.log');
    const result = await runCli(['put', join(local, 'up', 'ok.txt'), `s3://${bucket}/lg/x.txt`, '--concurrency', 'lots', '--log-file', log]);
    expect(result.code).toBe(2);
    expect(logRecords(log)).toEqual([expect.objectContaining({ level: LOG_FATAL, msg: 'run failed', exitCode: 2, code: 'usage', error: result.stderr.trim().replace(/^datalake: error: /, '') })]);
  });
});

/**
 * A reader of stdout that goes away (`| head -1`): where stdout only reports on work, the work goes on
 * and the exit code is the work's; where stdout is the output (ls, get -), the run ends there, exit 0.
 */
describe('a stdout reader that goes away', () => {
  /** Runs datalake with its stdout read up to the first line, then closed, as `| head -1` does. */
  function runReadingOneLine(args: string[]): Promise<{ code: number | null; firstLine: string; stderr: string }> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { env: s3Env(), stdio: ['ignore', 'pipe', 'pipe'] });
      let seen = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('\n')) child.stdout.destroy();
      });
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolvePromise({ code, firstLine: seen.split('\n')[0]!, stderr }));
    });
  }

  it('put -r goes on without its reader and uploads every file, exit 0', async () => {
    const tree = join(work.path, 'reader-gone');
    mkdirSync(tree, { recursive: true });
    for (let index = 0; index < 40; index += 1) writeFileSync(join(tree, `f${String(index).padStart(2, '0')}.csv`), `row ${index}\n`);
    const result = await runReadingOneLine(['put', '-r', tree, `s3://${bucket}/reader-gone/`, '--concurrency', '2']);
    expect(result.firstLine).toMatch(/^uploaded /);
    expect(result.code, result.stderr).toBe(0);
    const listed = await runCli(['ls', '-r', `s3://${bucket}/reader-gone/`, '--json']);
    expect((JSON.parse(listed.stdout) as { objects: unknown[] }).objects).toHaveLength(40);
  });

  it('put -r of a missing file among others still exits 1 without its reader', async () => {
    const result = await runReadingOneLine(['put', join(work.path, 'reader-gone', 'f00.csv'), join(work.path, 'reader-gone', 'f01.csv'), join(work.path, 'no-such-file.csv'), `s3://${bucket}/reader-gone-2/`]);
    expect(result.code).not.toBe(0);
  });

  it('ls ends when its reader has gone, exit 0', async () => {
    const result = await runReadingOneLine(['ls', '-r', `s3://${bucket}/reader-gone/`]);
    expect(result.firstLine).toMatch(/f00\.csv/);
    expect(result.code, result.stderr).toBe(0);
  });
});

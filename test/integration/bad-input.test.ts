import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, emptyAndDeleteBucket, listKeys, runCli, s3Env, tempDirectory, testClient } from '../support/harness.js';

let client: S3Client;
let bucket: string;
const work = tempDirectory('badinput');
const file = join(work.path, 'data.csv');
const directory = join(work.path, 'adir');

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'badinput');
  writeFileSync(file, 'a,b\n1,2\n');
  mkdirSync(directory);
  writeFileSync(join(directory, 'inside.txt'), 'x');
});
afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

function expectOneCleanLine(stderr: string): void {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^datalake: /);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('bad input: one line on stderr, exit 2, nothing uploaded', () => {
  const b = () => ['--bucket', bucket];
  const cases: Array<[string, () => string[], RegExp, Record<string, string | undefined>?]> = [
    ['a missing file', () => ['put', join(work.path, 'nope.csv'), '--key', 'x/nope.csv', ...b()], /no such file/],
    ['a directory without --recursive', () => ['put', directory, `s3://${bucket}/dir/`], /is a directory.*--recursive/],
    ['an unknown flag', () => ['put', file, '--key', 'x', '--frobnicate', ...b()], /unknown option '--frobnicate'/],
    ['no bucket configured', () => ['put', file, '--key', 'x/data.csv'], /no bucket configured/],
    ['a zone outside raw/processed/analytics', () => ['put', file, '--zone', 'bronze', '--dataset', 'd', ...b()], /invalid zone 'bronze'/],
    // Node's recursive mkdir never returns under /proc: this one used to spin at full CPU, deaf to SIGTERM.
    ['a --log-file under /proc', () => ['put', file, '--key', 'x/log.csv', '--log-file', '/proc/no-such-dir/datalake.log', ...b()], /cannot write --log-file .*ENOENT/],
    ['a --log-file inside a regular file', () => ['put', file, '--key', 'x/log.csv', '--log-file', join(file, 'datalake.log'), ...b()], /cannot write --log-file .*ENOTDIR/],
    ['an invalid date', () => ['put', file, '--zone', 'raw', '--dataset', 'd', '--date', '2024-02-30', ...b()], /invalid date/],
    ['a key with ..', () => ['put', file, `s3://${bucket}/a/../b.csv`], /'\.\.' segment/],
    ['a key with empty segments', () => ['put', file, `s3://${bucket}/a//b.csv`], /empty path segment/],
    ['a key over 1,024 bytes', () => ['put', file, '--key', 'k'.repeat(1025), ...b()], /1,?024-byte limit/],
    ['--key together with --zone', () => ['put', file, '--key', 'x', '--zone', 'raw', '--dataset', 'd', ...b()], /--key and --zone/],
    ['an s3:// destination together with --zone', () => ['put', file, `s3://${bucket}/x.csv`, '--zone', 'raw', '--dataset', 'd'], /'s3:\/\/.*\/x\.csv' and --zone\/--dataset both name the destination.*give one of them/],
    ['an s3:// destination together with --key', () => ['put', file, `s3://${bucket}/x.csv`, '--key', 'y.csv'], /'s3:\/\/.*\/x\.csv' and --key both name the destination/],
    ['a malformed endpoint URL', () => ['put', file, '--key', 'x', '--endpoint', 'not a url', ...b()], /malformed endpoint URL/],
    ['a part size under 5 MiB', () => ['put', file, '--key', 'x', '--part-size', '4MiB', ...b()], /5 MiB to 5 GiB/],
    ['a part size over 5 GiB', () => ['put', file, '--key', 'x', '--part-size', '6GiB', ...b()], /5 MiB to 5 GiB/],
    ['a part size that does not parse', () => ['put', file, '--key', 'x', '--part-size', 'huge', ...b()], /invalid part size/],
    ['concurrency under 1', () => ['put', file, '--key', 'x', '--concurrency', '0', ...b()], /concurrency/],
    ['an invalid bucket name', () => ['put', file, 's3://Not_A_Bucket/x'], /invalid bucket name/],
    ['--dataset without --zone', () => ['put', file, '--dataset', 'd', ...b()], /need --zone/],
    ['an unknown --sse mode', () => ['put', file, '--key', 'x', '--sse', 'rot13', ...b()], /--sse/],
    ['no destination at all', () => ['put', file, ...b()], /no destination/],
    ['a malformed DATALAKE_CONCURRENCY', () => ['put', file, '--key', 'x', ...b()], /concurrency/, { DATALAKE_CONCURRENCY: 'lots' }],
    ['an unknown --log-level', () => ['put', file, '--key', 'x', '--log-level', 'loud', ...b()], /log-level/],
    // C1 controls (U+0080–U+009F) are controls as C0 ones are: U+009B alone starts a terminal escape sequence.
    ['a key with a C1 control (U+0085)', () => ['put', file, `s3://${bucket}/c1/next\u0085line.csv`], /invalid key 'c1\/next\\u0085line\.csv': control characters are not allowed/],
    ['a cp destination with a C1 control (U+009B)', () => ['cp', `s3://${bucket}/raw/a.csv`, `s3://${bucket}/c1/csi\u009b2J.csv`], /invalid key 'c1\/csi\\u009b2J\.csv': control characters are not allowed/],
    // A bidirectional control shows a name reversed; a line separator breaks it in many readers.
    ['a key with a bidirectional control (U+202E)', () => ['put', file, `s3://${bucket}/bidi/invoice\u202eFDP.exe`], /invalid key 'bidi\/invoice\\u202eFDP\.exe': control characters are not allowed/],
    ['a key with a line separator (U+2028)', () => ['put', file, `s3://${bucket}/ls/a\u2028b.csv`], /invalid key 'ls\/a\\u2028b\.csv': control characters are not allowed/],
  ];

  it.each(cases)('%s', async (_label, args, message, env) => {
    const result = await runCli(args(), { env: s3Env(env ?? {}) });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expectOneCleanLine(result.stderr);
    expect(result.stdout).toBe('');
    expect(await listKeys(client, bucket)).toEqual([]);
  });

  it('a layout (DATALAKE_LAYOUT) with a control character: cp --zone and put --zone refuse it, one line, nothing copied', async () => {
    const { PutObjectCommand, DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'src/events/a.json', Body: '{}' }));
    try {
      for (const layout of ['{zone}/\u001b[2J{dataset}/{name}', '{zone}/{dataset}/\u0085{name}', '{zone}/{dataset}/\u202e{name}', '{zone}/{dataset}/\u2028{name}']) {
        for (const args of [
          ['cp', `s3://${bucket}/src/events/a.json`, '--zone', 'processed', '--dataset', 'events', ...b()],
          ['cp', '-r', `s3://${bucket}/src/`, '--zone', 'processed', '--dataset', 'events', ...b()],
          ['put', file, '--zone', 'raw', '--dataset', 'events', ...b()],
        ]) {
          const result = await runCli(args, { env: s3Env({ DATALAKE_LAYOUT: layout }) });
          expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
          expect(result.stderr).toMatch(/^datalake: error: invalid layout '.*': control characters are not allowed/);
          expectOneCleanLine(result.stderr);
          expect(result.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
        }
      }
      expect(await listKeys(client, bucket)).toEqual(['src/events/a.json']);
    } finally {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'src/events/a.json' }));
    }
  });

  it('a malformed .env line', async () => {
    const cwd = join(work.path, 'envdir');
    mkdirSync(cwd, { recursive: true });
    writeFileSync(join(cwd, '.env'), 'DATALAKE_BUCKET=x\nthis line is broken\n');
    const result = await runCli(['put', file, '--key', 'x', ...['--bucket', bucket]], { cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/\.env line 2/);
    expectOneCleanLine(result.stderr);
    expect(await listKeys(client, bucket)).toEqual([]);
  });
});

describe('bad input on download: exit 2 and nothing written', () => {
  it.each([
    ['a key with ..', ['get', 's3://lake/a/../b.csv', 'out.csv']],
    ['a prefix without --recursive', ['get', 's3://lake/raw/', 'out.csv']],
    ['--recursive to standard output', ['get', '-r', 's3://lake/raw/', '-']],
  ])('%s', async (_label, args) => {
    const cwd = join(work.path, `get-${_label.replace(/\W+/g, '-')}`);
    mkdirSync(cwd, { recursive: true });
    const result = await runCli(args, { cwd });
    expect(result.code).toBe(2);
    expectOneCleanLine(result.stderr);
    expect(readdirSync(cwd)).toEqual([]);
    expect(existsSync(join(cwd, 'out.csv'))).toBe(false);
  });
});

describe('help', () => {
  it.each(['put', 'get', 'ls'])('%s --help shows examples and exits 0', async (command) => {
    const result = await runCli([command, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Examples:\n\s+datalake /);
  });

  it('--version prints the package version', async () => {
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

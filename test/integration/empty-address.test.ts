import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, emptyAndDeleteBucket, listKeys, runCli, s3Env, tempDirectory, testClient } from '../support/harness.js';

/** An empty argument (an unset shell variable) never means the whole bucket: only s3://bucket/ does. */
let client: S3Client;
let bucket: string;
let other: string;
const work = tempDirectory('emptyaddr');
const KEYS = ['keep/a.csv', 'keep/b.csv'];

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'emptyaddr');
  other = await createTestBucket(client, 'emptyaddr-to');
  for (const key of KEYS) await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}` }));
  writeFileSync(join(work.path, 'a.csv'), 'a\n');
  mkdirSync(join(work.path, 'down'));
});
afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  await emptyAndDeleteBucket(client, other);
  client.destroy();
  work.remove();
});

function oneLine(stderr: string): void {
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('an empty address is refused (exit 2, nothing touched) by every command taking one', () => {
  const down = () => join(work.path, 'down');
  const cases: Array<[string, () => string[]]> = [
    ['rm -r --dry-run', () => ['rm', '-r', '', '--dry-run']],
    ['rm -r', () => ['rm', '-r', '']],
    ['rm', () => ['rm', '']],
    ['mv -r', () => ['mv', '-r', '', `s3://${other}/all/`]],
    ['mv', () => ['mv', '', `s3://${other}/x`]],
    ['cp -r', () => ['cp', '-r', '', `s3://${other}/all/`]],
    ['cp to an empty destination', () => ['cp', `s3://${bucket}/keep/a.csv`, '']],
    ['get -r', () => ['get', '-r', '', down()]],
    ['get', () => ['get', '', down()]],
    ['verify -r', () => ['verify', '-r', '']],
    ['verify', () => ['verify', '']],
    ['ls', () => ['ls', '']],
    ['stat', () => ['stat', '']],
    ['cat', () => ['cat', '']],
    ['presign', () => ['presign', '']],
    ['sync download', () => ['sync', '', down()]],
    ['put to an empty key', () => ['put', join(work.path, 'a.csv'), '']],
    ['a blank one', () => ['rm', '-r', '  ']],
  ];
  it.each(cases)('%s', async (_label, args) => {
    const result = await runCli([...args(), '--bucket', bucket], { env: s3Env() });
    expect(result.stderr).toMatch(/empty address|one side must be/);
    expect(result.code).toBe(2);
    oneLine(result.stderr);
    expect(await listKeys(client, bucket)).toEqual(KEYS);
    expect(await listKeys(client, other)).toEqual([]);
  });

  it('s3://bucket/ still names the whole bucket', async () => {
    const result = await runCli(['rm', '-r', `s3://${bucket}/`, '--dry-run'], { env: s3Env() });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`would delete s3://${bucket}/keep/a.csv`);
  });

  it('ls with no argument lists the configured bucket', async () => {
    const result = await runCli(['ls', '--bucket', bucket], { env: s3Env() });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('keep/');
  });
});

describe('messages that name the real mistake', () => {
  it('cp of a local path says it is one, and points to put', async () => {
    const result = await runCli(['cp', './a.csv', `s3://${bucket}/zz.csv`], { env: s3Env(), cwd: work.path });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/'\.\/a\.csv' is a local path.*datalake put/);
    oneLine(result.stderr);
  });

  it('cat of a local path says it is one', async () => {
    const result = await runCli(['cat', '/tmp/x', '--bucket', bucket], { env: s3Env() });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/'\/tmp\/x' is a local path/);
    oneLine(result.stderr);
  });

  it('get into a path under a regular file says so in one line', async () => {
    const result = await runCli(['get', `s3://${bucket}/keep/a.csv`, join(work.path, 'a.csv', 'x.csv')], { env: s3Env() });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/is a file, not a directory/);
    expect(result.stderr).not.toMatch(/EEXIST|ENOTDIR|mkdir/);
    oneLine(result.stderr);
  });
});

describe('cat --help', () => {
  it('its pipeline example checks cat\'s exit status (pipefail)', async () => {
    const result = await runCli(['cat', '--help'], { env: s3Env() });
    const lines = result.stdout.split('\n');
    const example = lines.findIndex((line) => line.includes('&& echo verified'));
    expect(example).toBeGreaterThan(0);
    expect(lines.slice(0, example).join('\n')).toMatch(/set -o pipefail/);
  });
});

describe("rules that leave out every object are not an error; an empty prefix is", () => {
  const cases: Array<[string, () => string[]]> = [
    ['get -r', () => ['get', '-r', `s3://${bucket}/keep/`, join(work.path, 'down')]],
    ['cp -r', () => ['cp', '-r', `s3://${bucket}/keep/`, `s3://${other}/all/`]],
    ['mv -r', () => ['mv', '-r', `s3://${bucket}/keep/`, `s3://${other}/all/`]],
    ['verify -r', () => ['verify', '-r', `s3://${bucket}/keep/`]],
    ['rm -r', () => ['rm', '-r', `s3://${bucket}/keep/`]],
  ];
  it.each(cases)("%s --exclude '*': exit 0, saying the rules matched nothing", async (_label, args) => {
    const result = await runCli([...args(), '--exclude', '*'], { env: s3Env() });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/rules left out every object under/);
    expect(await listKeys(client, bucket)).toEqual(KEYS);
  });

  it('verify -r of a prefix with no objects stays exit 1', async () => {
    const result = await runCli(['verify', '-r', `s3://${bucket}/nothing-here/`], { env: s3Env() });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no objects under this prefix/);
  });
});

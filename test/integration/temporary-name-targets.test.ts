/**
 * Objects named like datalake's temporary download files (`.x.datalake-part`, its `.json` record, its
 * `.lock`): never written under such a name, nor under a folder so named, so that no file or folder
 * of the user's sits where the next download of `x` keeps (and removes) its own; and a file there
 * that is not datalake's record is left alone.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processTag } from '../../src/core/transfer/lock-file.js';
import { createTestBucket, emptyAndDeleteBucket, lastJson, runCli, s3Env, tempDirectory, testClient } from '../support/harness.js';

const work = tempDirectory('temporary-name-targets');
let client: S3Client;
let bucket: string;
let env: NodeJS.ProcessEnv;
const TEMPORARY_KEYS = ['n/.x.datalake-part', 'n/.x.datalake-part.json'];

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'tmpnames');
  env = s3Env({ DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_CACHE_DIR: join(work.path, 'cache') });
  for (const key of ['n/x', ...TEMPORARY_KEYS]) await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `content of ${key}` }));
});
afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

const cli = (args: string[], cwd?: string) => runCli(args, { env, ...(cwd ? { cwd } : {}) });

describe('get KEY FILE refuses a target named like a temporary download file', () => {
  for (const key of TEMPORARY_KEYS) {
    const name = key.slice('n/'.length);
    it(`${name}: to that file, into a folder, or to the working directory: exit 2, one line, nothing written`, async () => {
      const folder = join(work.path, `refused-${name}`);
      mkdirSync(folder, { recursive: true });
      for (const args of [
        ['get', `s3://${bucket}/${key}`, join(folder, name)],
        ['get', `s3://${bucket}/${key}`, `${folder}/`],
        ['get', `s3://${bucket}/${key}`],
      ]) {
        const result = await cli(args, folder);
        expect(result.code, result.stderr).toBe(2);
        expect(result.stderr.trim().split('\n')).toHaveLength(1);
        expect(result.stderr).toContain('temporary');
        expect(result.stderr).toContain('choose another name');
        expect(readdirSync(folder)).toEqual([]);
      }
    });
  }

  it('under another name it is downloaded, and the next get --no-clobber of x leaves every file alone', async () => {
    const folder = join(work.path, 'other-name');
    const fetched = await cli(['get', `s3://${bucket}/n/.x.datalake-part`, join(folder, 'x-part-copy')]);
    expect(fetched.code, fetched.stderr).toBe(0);
    writeFileSync(join(folder, 'x'), 'mine');
    const skipped = await cli(['get', '--no-clobber', `s3://${bucket}/n/x`, join(folder, 'x')]);
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(readdirSync(folder).sort()).toEqual(['x', 'x-part-copy']);
  });
});

describe('get -r and sync down: the refusal says to download such an object under another name', () => {
  it('get -r: the two are failed with the hint, x is downloaded, exit 1', async () => {
    const folder = join(work.path, 'recursive');
    const result = await cli(['get', '-r', `s3://${bucket}/n/`, folder]);
    expect(result.code).toBe(1);
    for (const key of TEMPORARY_KEYS) expect(result.stderr).toContain(`key '${key}' is named like a temporary file of datalake's downloads`);
    expect(result.stderr).toContain('download it under another name with `datalake get KEY OTHER-NAME`');
    expect(readdirSync(folder)).toEqual(['x']);
  });

  it('sync down: each is failed per file with the same message and hint, x is downloaded, --delete skipped, exit 1', async () => {
    const folder = join(work.path, 'sync-down');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'stray'), 'kept: a transfer failed');
    const result = await cli(['sync', `s3://${bucket}/n/`, folder, '--delete', '--json']);
    expect(result.code).toBe(1);
    const json = lastJson<{ transferred: number; failed: number; deleted: number; errors: Array<{ name: string; error: string }> }>(result);
    expect(json).toMatchObject({ transferred: 1, failed: 2, deleted: 0 });
    for (const key of TEMPORARY_KEYS) {
      const error = json.errors.find((e) => e.name === key.slice('n/'.length))?.error;
      expect(error).toContain(`key '${key}' is named like a temporary file of datalake's downloads`);
      expect(error).toContain('download it under another name with `datalake get KEY OTHER-NAME`');
    }
    expect(json.errors.find((e) => e.name === '(deletions)')?.error).toBe('1 deletion skipped because 2 items failed');
    expect(readdirSync(folder).sort()).toEqual(['stray', 'x']);
  });
});

describe('a key under a folder named like a temporary download file (`d/.q.datalake-part/inner.csv`)', () => {
  // `d/q` is the namesake whose download keeps its temporary file where that folder would stand.
  const FOLDER_KEYS = ['f/d/.q.datalake-part/inner.csv', 'f/.top.datalake-part.lock/deep/x.csv'];
  const why = (key: string, folder: string) => `key '${key}' is under a folder named like a temporary file of datalake's downloads ('${folder}'); not downloaded`;
  const folderOf = (key: string) => (key.includes('.q.') ? 'd/.q.datalake-part/' : '.top.datalake-part.lock/');
  interface SyncJson {
    transferred: number;
    failed: number;
    deleted: number;
    skipped: number;
    errors: Array<{ name: string; error: string }>;
  }
  /** Every file under a folder, by its path relative to it. */
  const filesUnder = (root: string): string[] =>
    readdirSync(root, { withFileTypes: true, recursive: true })
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name).slice(root.length + 1))
      .sort();
  const failedLines = (stderr: string) => stderr.split('\n').filter((line) => line.startsWith('datalake: failed: '));

  beforeAll(async () => {
    for (const key of ['f/ok.csv', 'f/d/q', ...FOLDER_KEYS]) await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `content of ${key}` }));
  });

  it('get -r: each such object failed with one line naming the key and the folder, the others downloaded, nothing written for it, exit 1; a later get of d/q works', async () => {
    const folder = join(work.path, 'folder-get');
    const result = await cli(['get', '-r', `s3://${bucket}/f/`, folder, '--json']);
    expect(result.code, result.stderr).toBe(1);
    const json = lastJson<{ objects: Array<{ key: string }>; failed: Array<{ key: string; error: string; code: string }> }>(result);
    expect(json.objects.map((object) => object.key).sort()).toEqual(['f/d/q', 'f/ok.csv']);
    expect(json.failed.map((item) => item.key).sort()).toEqual([...FOLDER_KEYS].sort());
    for (const item of json.failed) {
      expect(item.error).toContain(why(item.key, folderOf(item.key)));
      expect(item.code).toBe('failed');
    }
    expect(failedLines(result.stderr)).toHaveLength(2);
    for (const key of FOLDER_KEYS) expect(failedLines(result.stderr).filter((line) => line.includes(why(key, folderOf(key))))).toHaveLength(1);
    expect(filesUnder(folder)).toEqual(['d/q', 'ok.csv']);
    expect(readdirSync(folder).sort()).toEqual(['d', 'ok.csv']);
    expect(readdirSync(join(folder, 'd'))).toEqual(['q']);

    const again = await cli(['get', `s3://${bucket}/f/d/q`, join(folder, 'd', 'q')]);
    expect(again.code, again.stderr).toBe(0);
  });

  it('sync down, and its --dry-run: each such object failed per file with the same message, the others transferred, --delete held back, exit 1', async () => {
    const folder = join(work.path, 'folder-sync');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'stray'), 'kept: a transfer failed');
    const outcome = (json: SyncJson) => ({ transferred: json.transferred, failed: json.failed, deleted: json.deleted, errors: [...json.errors].sort((a, b) => a.name.localeCompare(b.name)) });

    const dry = await cli(['sync', `s3://${bucket}/f/`, folder, '--delete', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(1);
    expect(filesUnder(folder)).toEqual(['stray']);

    const real = await cli(['sync', `s3://${bucket}/f/`, folder, '--delete', '--json']);
    expect(real.code, real.stderr).toBe(1);
    const json = lastJson<SyncJson>(real);
    expect(json).toMatchObject({ transferred: 2, failed: 2, deleted: 0, skipped: 0 });
    for (const key of FOLDER_KEYS) {
      const name = key.slice('f/'.length);
      expect(json.errors.find((e) => e.name === name)?.error).toContain(why(key, folderOf(key)));
      expect(failedLines(real.stderr).filter((line) => line.startsWith(`datalake: failed: ${name}: `))).toHaveLength(1);
    }
    expect(json.errors.find((e) => e.name === '(deletions)')?.error).toBe('1 deletion skipped because 2 items failed');
    expect(outcome(lastJson<SyncJson>(dry))).toEqual(outcome(json));
    expect(filesUnder(folder)).toEqual(['d/q', 'ok.csv', 'stray']);
    expect(readdirSync(folder).sort()).toEqual(['d', 'ok.csv', 'stray']);
  });

  it('sync up --delete leaves such remote keys alone (the walk hides their local namesakes), each told once as skipped', async () => {
    const folder = join(work.path, 'folder-up');
    mkdirSync(join(folder, 'd'), { recursive: true });
    writeFileSync(join(folder, 'ok.csv'), 'content of f/ok.csv');
    writeFileSync(join(folder, 'd', 'q'), 'content of f/d/q');
    const result = await cli(['sync', folder, `s3://${bucket}/f/`, '--delete']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/: 0 transferred, 4 skipped, 0 deleted, 0 failed/);
    expect(result.stdout).toContain('skip: d/.q.datalake-part/ (named as a datalake download in progress');
    expect(result.stdout).toContain('skip: .top.datalake-part.lock/ (named as a datalake download in progress');
  });
});

describe('what is not datalake’s own record is left alone', () => {
  it('get --no-clobber of x: a .json beside it that is not a range record is kept, with a warning', async () => {
    const folder = join(work.path, 'not-a-record');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'x'), 'mine');
    writeFileSync(join(folder, '.x.datalake-part.json'), '{"my": "settings"}');
    const result = await cli(['get', '--no-clobber', `s3://${bucket}/n/x`, join(folder, 'x')]);
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(folder, '.x.datalake-part.json'), 'utf8')).toBe('{"my": "settings"}');
    expect(result.stderr).toContain('.x.datalake-part.json');
    expect(result.stderr).toContain('not a range record of datalake');
  });

  it('get -r --no-clobber: the same, and a record of datalake’s own is removed', async () => {
    const folder = join(work.path, 'records');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'x'), 'mine');
    writeFileSync(join(folder, '.x.datalake-part.json'), 'not json at all');
    const own = { etag: '"0123"', size: 20, chunk: 8388608, done: [{ index: 0, start: 0, end: 7, crc32: 1 }] };
    mkdirSync(join(folder, 'sub'));
    writeFileSync(join(folder, 'sub', 'y'), 'mine');
    writeFileSync(join(folder, 'sub', '.y.datalake-part.json'), JSON.stringify(own));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'r/x', Body: 'x' }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'r/sub/y', Body: 'y' }));
    const result = await cli(['get', '-r', '--no-clobber', `s3://${bucket}/r/`, folder]);
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(folder, '.x.datalake-part.json'), 'utf8')).toBe('not json at all');
    expect(result.stderr).toContain('not a range record of datalake');
    expect(existsSync(join(folder, 'sub', '.y.datalake-part.json'))).toBe(false);
  });

  it("names that only look like a gone run's (a user's `.notes.datalake-part.<pid>-<tag>-1`) are never removed as leftovers; the real forms are", async () => {
    const tag = processTag().split('-')[1]!;
    const folder = join(work.path, 'held');
    mkdirSync(folder, { recursive: true });
    // A pid no process has (above the largest pid_max Linux allows, 2^22), with this host's tag: a gone holder.
    const lookAlikes = [`.notes.datalake-part.4194400-${tag}-1`, `.rep.datalake-partial.4194401-${tag}-7`];
    const leftovers = [`.y.4194402-${tag}-1.datalake-part`, `.y.datalake-part.lock.4194403-${tag}-2`];
    for (const name of [...lookAlikes, ...leftovers]) writeFileSync(join(folder, name), 'mine');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'held/z.csv', Body: 'z' }));
    const result = await runCli(['get', `s3://${bucket}/held/z.csv`, join(folder, 'z.csv')], { env });
    expect(result.code, result.stderr).toBe(0);
    const left = readdirSync(folder).sort();
    expect(left).toEqual([...lookAlikes, 'z.csv'].sort());
    for (const name of lookAlikes) expect(readFileSync(join(folder, name), 'utf8')).toBe('mine');
  });
});

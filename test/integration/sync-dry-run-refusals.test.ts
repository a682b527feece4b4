/**
 * `sync --dry-run` tells what the real run would do, refusals included: a name the real run fails on
 * its own (a key that cannot be a local name, a local name that cannot be a key) is failed by the dry
 * run with the same message, the same counts, the deletions skipped for it, and exit 1. And a local
 * name that is not UTF-8 is told in words that fit the direction.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, emptyAndDeleteBucket, lastJson, listKeys, runCli, s3Env, tempDirectory, testClient } from '../support/harness.js';

interface SyncJson {
  transferred: number;
  skipped: number;
  deleted: number;
  failed: number;
  errors: Array<{ name: string; error: string }>;
  error?: { code: string; message: string };
}

const work = tempDirectory('sync-dry-run-refusals');
let client: S3Client;
let bucket: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'dryrefuse');
  env = s3Env({ DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_CACHE_DIR: join(work.path, 'cache') });
});
afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

async function sync(args: string[]): Promise<{ code: number | null; json: SyncJson; stderr: string; stdout: string }> {
  const result = await runCli(['sync', ...args, '--json'], { env });
  return { code: result.code, json: lastJson<SyncJson>(result), stderr: result.stderr, stdout: result.stdout };
}

/** What a scripted reader compares: the counts and each failure, by name. */
const outcome = (json: SyncJson) => ({
  transferred: json.transferred,
  deleted: json.deleted,
  failed: json.failed,
  errors: [...json.errors].sort((a, b) => a.name.localeCompare(b.name)),
});

describe('sync --dry-run fails what the real run fails', () => {
  it('down: keys that cannot be a local name are failed by the dry run as by the real run, and the deletions skipped', async () => {
    for (const key of ['h/bs\\x', 'h/.y.datalake-part', 'h/ok']) await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `content of ${key}` }));
    const folder = join(work.path, 'down');
    mkdirSync(folder, { recursive: true });
    for (const stray of ['s1', 's2', 's3']) writeFileSync(join(folder, stray), 'only here');

    const dry = await sync([`s3://${bucket}/h/`, folder, '--delete', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(1);
    expect(readdirSync(folder).sort()).toEqual(['s1', 's2', 's3']);
    expect(dry.stdout).not.toMatch(/→ {2}\(/);
    expect(dry.json.errors.find((e) => e.name === '(deletions)')?.error).toBe('3 deletions skipped because 2 items failed');

    const real = await sync([`s3://${bucket}/h/`, folder, '--delete']);
    expect(real.code, real.stderr).toBe(1);
    expect(outcome(dry.json)).toEqual(outcome(real.json));
    expect(real.json).toMatchObject({ transferred: 1, failed: 2, deleted: 0 });
    expect(real.json.errors.find((e) => e.name === 'bs\\x')?.error).toContain('has a backslash in its name');
  });

  it('up: a local name with a control character is failed by the dry run as by the real run, and the deletion skipped', async () => {
    const folder = join(work.path, 'up');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'ok'), 'fine');
    writeFileSync(join(folder, 'esc\u001bx'), 'a name with ESC in it');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'u/stray', Body: 'only there' }));

    const dry = await sync([folder, `s3://${bucket}/u/`, '--delete', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(1);
    expect(await listKeys(client, bucket, 'u/')).toEqual(['u/stray']);
    expect(dry.json.errors.find((e) => e.name === 'esc\u001bx')?.error).toContain('control characters are not allowed');
    expect(dry.json.errors.find((e) => e.name === '(deletions)')?.error).toBe('1 deletion skipped because 1 item failed');

    const real = await sync([folder, `s3://${bucket}/u/`, '--delete']);
    expect(real.code, real.stderr).toBe(1);
    expect(outcome(dry.json)).toEqual(outcome(real.json));
    expect((await listKeys(client, bucket, 'u/')).sort()).toEqual(['u/ok', 'u/stray']);
  });
});

describe('a local name that is not UTF-8, in a download sync', () => {
  it('--delete: said to match no key, so neither deleted nor passed over in silence; never "send"', async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'd/good', Body: 'good' }));
    const folder = join(work.path, 'not-utf8');
    mkdirSync(folder, { recursive: true });
    writeFileSync(Buffer.concat([Buffer.from(`${folder}/bad`), Buffer.from([0xff])]), 'mine');
    const result = await sync([`s3://${bucket}/d/`, folder, '--delete']);
    expect(result.code).toBe(1);
    const error = result.json.errors.find((e) => e.name === 'bad\udcff')?.error ?? '';
    // A failing run's document carries an `error`, as every failing --json run does (SPEC), naming the first failure.
    expect(result.json.error).toMatchObject({ code: 'failed' });
    expect(result.json.error?.message).toMatch(/^\d+ failed/);
    expect(error).toContain('not valid UTF-8');
    expect(error).toContain('matches no key');
    expect(error).toContain('not deleted');
    expect(error).not.toContain('send');
    expect(result.stderr).toContain('not deleted');
    expect(readdirSync(folder, { encoding: 'buffer' })).toHaveLength(2);
  });
});

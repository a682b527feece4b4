import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, createTestBucket, emptyAndDeleteBucket, listKeys, runCliHeldToPermissions, runCommand, s3Env, tempDirectory, testClient } from '../support/harness.js';

/**
 * What the system refused (a folder or file this user cannot read, a working folder removed) is one
 * line that says what could not be done, where and why — `cannot read the folder '/data/u1':
 * permission denied (EACCES)` — never Node's `EACCES: permission denied, open '/data/u1'`. As root the
 * CLI runs held to the permission bits (runCliHeldToPermissions), so the refusals are real.
 */
const work = tempDirectory('system-errors');
let client: S3Client;
let bucket: string;
let env: NodeJS.ProcessEnv;
const unreadableFolder = join(work.path, 'u1');
const tree = join(work.path, 'u2');
const unreadableFile = join(tree, 'b.txt');

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'syserr');
  env = s3Env({ DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_CACHE_DIR: join(work.path, 'cache') });
  mkdirSync(join(unreadableFolder, 'sub'), { recursive: true });
  writeFileSync(join(unreadableFolder, 'a.txt'), 'a');
  mkdirSync(tree);
  writeFileSync(join(tree, 'a.txt'), 'a');
  writeFileSync(unreadableFile, 'b');
  chmodSync(unreadableFolder, 0o000);
  chmodSync(unreadableFile, 0o000);
});
afterAll(async () => {
  chmodSync(unreadableFolder, 0o755);
  chmodSync(unreadableFile, 0o644);
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

describe('a folder or file that cannot be read is named, with why, in words', () => {
  const folderLine = `datalake: error: cannot read the folder '${unreadableFolder}': permission denied (EACCES)\n`;

  it('sync of an unreadable folder: one line naming the folder, exit 1, the same in --json', async () => {
    const result = await runCliHeldToPermissions(['sync', '--json', unreadableFolder, `s3://${bucket}/u1/`], { env });
    expect(result.stderr).toBe(folderLine);
    expect(result.code).toBe(1);
    // The run's counts (nothing done) beside the error, as in every sync document.
    expect(JSON.parse(result.stdout)).toEqual({
      transferred: 0,
      skipped: 0,
      deleted: 0,
      failed: 0,
      bytes: 0,
      dryRun: false,
      symlinksSkipped: 0,
      errors: [],
      error: { code: 'EACCES', message: `cannot read the folder '${unreadableFolder}': permission denied (EACCES)` },
    });
  });

  it('sync down into an unreadable folder, and verify against one: the same line', async () => {
    for (const args of [['sync', `s3://${bucket}/u2/`, unreadableFolder], ['verify', '-r', `s3://${bucket}/u2/`, '--local', unreadableFolder]]) {
      const result = await runCliHeldToPermissions(args, { env });
      expect(result.stderr, args.join(' ')).toBe(folderLine);
      expect(result.code).toBe(1);
    }
  });

  it('an unreadable file of put -r and of sync: its failed line says it cannot be opened, and why; the rest is sent', async () => {
    const put = await runCliHeldToPermissions(['put', '-r', tree, `s3://${bucket}/u2/`], { env });
    expect(put.code).toBe(1);
    expect(put.stderr).toBe(`datalake: failed: ${unreadableFile}: cannot open '${unreadableFile}': permission denied (EACCES)\n`);
    const sync = await runCliHeldToPermissions(['sync', tree, `s3://${bucket}/u2s/`], { env });
    expect(sync.code).toBe(1);
    expect(sync.stderr).toBe(`datalake: failed: b.txt: cannot open '${unreadableFile}': permission denied (EACCES)\n`);
    expect(await listKeys(client, bucket, 'u2')).toEqual(['u2/a.txt', 'u2s/a.txt']);
  });

  it('verify against an unreadable file: one line naming it', async () => {
    const result = await runCliHeldToPermissions(['verify', `s3://${bucket}/u2/a.txt`, '--local', unreadableFile], { env });
    expect(result.stderr).toBe(`datalake: error: cannot open '${unreadableFile}': permission denied (EACCES)\n`);
    expect(result.code).toBe(1);
  });
});

describe('a working folder removed under the shell', () => {
  it('is one line saying so, exit 2 (nothing was attempted), and a document with --json', async () => {
    const gone = join(work.path, 'gone');
    mkdirSync(gone);
    // The shell enters the folder, removes it, then becomes the CLI: its working folder no longer exists.
    const result = await runCommand('sh', ['-c', 'cd "$0" && rmdir "$0" && exec "$@"', gone, process.execPath, BIN, '--json', 'ls', `s3://${bucket}/`], { env, cwd: work.path });
    expect(result.stderr).toBe('datalake: error: the current folder no longer exists (ENOENT) (change to a folder that exists and run the command again)\n');
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toEqual({ error: { code: 'ENOENT', message: 'the current folder no longer exists (ENOENT) (change to a folder that exists and run the command again)' } });
  });
});

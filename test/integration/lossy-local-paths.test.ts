/**
 * Node decodes arguments and the current folder's path as UTF-8: a byte that is not UTF-8 arrives as
 * U+FFFD, a name no file has. A sync up run from such a folder once walked a folder that is not there,
 * read it as an empty tree and deleted the remote side with exit 0; a download wrote beside the
 * folder meant. Such a path is now bad input: exit 2, one line, nothing sent, deleted or written.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, createTestBucket, emptyAndDeleteBucket, listKeys, runCli, s3Env, tempDirectory, testClient } from '../support/harness.js';

const work = tempDirectory('lossy-paths');
let client: S3Client;
let bucket: string;
let env: NodeJS.ProcessEnv;
/** `work/\xff`, and the tree `up/z.csv` inside it, made by their bytes. */
let lossy: Buffer;

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'lossy');
  env = s3Env({ DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_CACHE_DIR: join(work.path, 'cache') });
  lossy = Buffer.concat([Buffer.from(`${work.path}/`), Buffer.from([0xff])]);
  mkdirSync(Buffer.concat([lossy, Buffer.from('/up')]) as unknown as string, { recursive: true });
  writeFileSync(Buffer.concat([lossy, Buffer.from('/up/z.csv')]) as unknown as string, 'z\n');
  // The same tree's object, uploaded from a path Node can name.
  mkdirSync(join(work.path, 'plain', 'up'), { recursive: true });
  writeFileSync(join(work.path, 'plain', 'up', 'z.csv'), 'z\n');
  expect((await runCli(['put', '-r', join(work.path, 'plain', 'up'), `s3://${bucket}/up/`], { env })).code).toBe(0);
});
afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

/** Runs datalake with its current folder at `work/\xff` (a shell cd's there by bytes; Node cannot name it). */
function runInLossyFolder(args: string[]) {
  const quoted = args.map((arg) => `'${arg.replace(/'/g, "'\\''")}'`).join(' ');
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn('bash', ['-c', `cd "$(printf '%s/\\xff' "$WORK")" && exec "$NODE" "$BIN" ${quoted}`], {
          env: { ...env, WORK: work.path, NODE: process.execPath, BIN },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('a local path Node cannot name exactly', () => {
  it('sync up --delete from a folder whose path is not UTF-8: exit 2, one line, the remote side untouched', async () => {
    const result = await runInLossyFolder(['sync', 'up', `s3://${bucket}/up/`, '--delete']);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/current folder's path .* is not valid UTF-8/);
    expect(await listKeys(client, bucket)).toEqual(['up/z.csv']);
  });

  it('get -r and sync down into such a folder: exit 2, nothing written beside it', async () => {
    for (const args of [['get', '-r', `s3://${bucket}/up/`, 'out'], ['sync', `s3://${bucket}/up/`, 'keep', '--delete'], ['get', `s3://${bucket}/up/z.csv`]]) {
      const result = await runInLossyFolder(args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
    }
    // No sibling folder named by the decoded path (U+FFFD's bytes) was made.
    const names = readdirSync(work.path, { encoding: 'buffer' });
    expect(names.filter((name) => name.includes(Buffer.from('\ufffd')))).toEqual([]);
    expect(names.filter((name) => name.equals(Buffer.from([0xff])))).toHaveLength(1);
  });

  it('a path argument that is not UTF-8 (put, get, verify --local): exit 2 naming it, nothing sent or written', async () => {
    const file = Buffer.concat([lossy, Buffer.from('/up/z.csv')]).toString('utf8');
    const target = join(work.path, 'o\ufffd.csv');
    for (const args of [['put', file, `s3://${bucket}/other/z.csv`], ['get', `s3://${bucket}/up/z.csv`, target], ['verify', `s3://${bucket}/up/z.csv`, '--local', file]]) {
      const result = await runCli(args, { env });
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(/is not valid UTF-8 \(or holds U\+FFFD\)/);
    }
    expect(existsSync(target)).toBe(false);
    expect(await listKeys(client, bucket)).toEqual(['up/z.csv']);
  });
});

/**
 * A folder of the destination replaced by a symbolic link while a run is going (another process that
 * can write there): nothing is renamed into place or deleted through it. Each run is stopped at a
 * known request by the fault proxy's `hold`, the folder is swapped, and the run let go.
 */
import { mkdirSync, readdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { createTestBucket, emptyAndDeleteBucket, s3Env, startCli, tempDirectory, testClient, waitFor } from '../support/harness.js';

const work = tempDirectory('swap');
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let proxied: NodeJS.ProcessEnv;

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'swap');
  proxy = new FaultProxy(inject('s3').endpoint!);
  proxied = s3Env({ AWS_ENDPOINT_URL: await proxy.start(), DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_CACHE_DIR: join(work.path, 'cache') });
  for (const name of ['a01', 'a02', 'a03', 'a04']) await client.send(new PutObjectCommand({ Bucket: bucket, Key: `t/sub/${name}.txt`, Body: `object ${name}` }));
});
afterAll(async () => {
  await proxy.stop();
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

/** Replaces `folder` by a link to `elsewhere` (the real folder kept aside). */
function swapForLink(folder: string, elsewhere: string): void {
  renameSync(folder, `${folder}.real`);
  symlinkSync(elsewhere, folder);
}

describe('a destination folder swapped for a link mid-run', () => {
  it('get -r: nothing is renamed into the folder the link points to', async () => {
    const destination = join(work.path, 'get');
    const outside = join(work.path, 'outside-get');
    mkdirSync(join(destination, 'sub'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(destination, 'sub', 'mine.txt'), 'the folder exists before the run');
    proxy.setRules([{ method: 'GET', match: /t\/sub\/a02\.txt/, fault: { kind: 'hold', gate: 'get' } }]);
    const run = startCli(['get', '-r', `s3://${bucket}/t/`, destination, '--concurrency', '1'], proxied);
    await waitFor(() => proxy.held('get') > 0, 'the download of a02 to be held');
    swapForLink(join(destination, 'sub'), outside);
    proxy.release('get');
    expect(await run.done).toBe(1);
    expect(readdirSync(outside)).toEqual([]);
  });

  it('sync --delete: a local file is never deleted through the link', async () => {
    const destination = join(work.path, 'sync');
    const victim = join(work.path, 'victim');
    mkdirSync(join(destination, 'sub'), { recursive: true });
    mkdirSync(victim);
    proxy.setRules([]);
    const first = startCli(['sync', `s3://${bucket}/t/`, destination], proxied);
    expect(await first.done).toBe(0);
    for (const name of ['e01.txt', 'e02.txt']) {
      writeFileSync(join(destination, 'sub', name), 'only local: deleted by --delete');
      writeFileSync(join(victim, name), 'someone else’s file');
    }
    // The HEAD that confirms e01.txt is gone from the bucket is held: the deletions come next.
    proxy.setRules([{ method: 'HEAD', match: /t\/sub\/e01\.txt/, fault: { kind: 'hold', gate: 'delete' } }]);
    const run = startCli(['sync', `s3://${bucket}/t/`, destination, '--delete'], proxied);
    await waitFor(() => proxy.held('delete') > 0, 'the confirming HEAD to be held');
    swapForLink(join(destination, 'sub'), victim);
    proxy.release('delete');
    expect(await run.done).toBe(1);
    expect(readdirSync(victim).sort()).toEqual(['e01.txt', 'e02.txt']);
  });
});

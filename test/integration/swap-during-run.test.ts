/**
 * A folder of the destination replaced by a symbolic link while a run is going (another process that
 * can write there): nothing is renamed into place or deleted through it. Each run is stopped at a
 * known request by the fault proxy's `hold`, the folder is swapped, and the run let go.
 */
import { mkdirSync, readdirSync, renameSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { listKeys, s3Env, startCli, tempDirectory, waitFor, swapForLink } from '../support/harness.js';
import { closeProxiedBucket, openProxiedBucket } from '../support/proxied-bucket.js';

const work = tempDirectory('swap');
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let proxied: NodeJS.ProcessEnv;

beforeAll(async () => {
  let endpoint: string;
  ({ client, bucket, proxy, endpoint } = await openProxiedBucket('swap'));
  proxied = s3Env({ AWS_ENDPOINT_URL: endpoint, DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_CACHE_DIR: join(work.path, 'cache') });
  for (const name of ['a01', 'a02', 'a03', 'a04']) await client.send(new PutObjectCommand({ Bucket: bucket, Key: `t/sub/${name}.txt`, Body: `object ${name}` }));
});
afterAll(async () => {
  await closeProxiedBucket({ client, bucket, proxy });
  work.remove();
});

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

  it.each(['get -r', 'sync'])('%s: no temporary file is created in the folder the link points to, not even for a moment', async (command) => {
    const label = command.replace(/\W+/g, '-');
    const destination = join(work.path, `${label}-temporary`);
    const outside = join(work.path, `${label}-temporary-outside`);
    mkdirSync(join(destination, 'sub'), { recursive: true });
    mkdirSync(outside);
    // Every name made in the outside folder, in the order the kernel saw them.
    const made: string[] = [];
    const watcher = watch(outside, (_event, name) => made.push(String(name)));
    try {
      proxy.setRules([{ method: 'GET', match: /t\/sub\/a02\.txt/, fault: { kind: 'hold', gate: label } }]);
      const args = command === 'sync' ? ['sync', `s3://${bucket}/t/`, destination] : ['get', '-r', `s3://${bucket}/t/`, destination];
      const run = startCli([...args, '--concurrency', '1'], proxied);
      await waitFor(() => proxy.held(label) > 0, 'the download of a02 to be held');
      swapForLink(join(destination, 'sub'), outside);
      proxy.release(label);
      expect(await run.done).toBe(1);
      // A name of our own made after the run: once it is seen, every earlier one has been.
      writeFileSync(join(outside, 'end-of-run'), '');
      await waitFor(() => made.includes('end-of-run'), 'the watcher to see the end of the run');
      expect(made.filter((name) => name !== 'end-of-run')).toEqual([]);
    } finally {
      watcher.close();
    }
  });

  it.each(['get -r', 'sync'])('%s: a folder moved out of the destination mid-run receives nothing more, not even a temporary file', async (command) => {
    const label = `moved-${command.replace(/\W+/g, '-')}`;
    const destination = join(work.path, label);
    const movedTo = join(work.path, `${label}-away`);
    mkdirSync(join(destination, 'sub'), { recursive: true });
    // Every download but a01's is held; with more requests allowed than downloads held, a01's
    // download finishes whichever order the downloads reach the limiter in (each first looks at its
    // target, and those looks can end in either order).
    proxy.setRules([{ method: 'GET', match: /t\/sub\/a0[234]\.txt/, fault: { kind: 'hold', gate: label } }]);
    const args = command === 'sync' ? ['sync', `s3://${bucket}/t/`, destination] : ['get', '-r', `s3://${bucket}/t/`, destination];
    const run = startCli([...args, '--concurrency', '4'], proxied);
    await waitFor(() => proxy.held(label) > 0, 'a download after a01 to be held');
    // a01 is in place (its folder was opened for it); then the real folder itself leaves the destination.
    await waitFor(() => readdirSync(join(destination, 'sub')).join() === 'a01.txt', 'a01 to be in place').catch((error: Error) => {
      throw new Error(`${error.message}: the folder holds [${readdirSync(join(destination, 'sub')).join(', ')}]; the proxy saw ${proxy.log.map((entry) => `${entry.method} ${entry.url}`).join(', ')}`);
    });
    renameSync(join(destination, 'sub'), movedTo);
    const made: string[] = [];
    const watcher = watch(movedTo, (_event, name) => made.push(String(name)));
    try {
      proxy.release(label);
      expect(await run.done).toBe(1);
      writeFileSync(join(movedTo, 'end-of-run'), '');
      await waitFor(() => made.includes('end-of-run'), 'the watcher to see the end of the run');
      expect(made.filter((name) => name !== 'end-of-run')).toEqual([]);
      expect(readdirSync(movedTo).sort()).toEqual(['a01.txt', 'end-of-run']);
    } finally {
      watcher.close();
    }
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

/**
 * A source tree whose folder `b/` is swapped for a link to a folder outside the tree, holding other
 * files of the same names and one more, while every upload from `a/` is held. Both commands read their
 * plan ahead of the transfers: the files of `b/` were listed before the swap and are read after it,
 * through the link unless the upload proves each is the file listed. Nothing of the outside folder
 * may reach the bucket. (A walk that meets the swapped folder itself: test/unit/local-tree.test.ts.)
 */
function sourceTree(label: string): { source: string; outside: string } {
  const source = join(work.path, `${label}-source`);
  const outside = join(work.path, `${label}-outside`);
  mkdirSync(join(source, 'a'), { recursive: true });
  mkdirSync(join(source, 'b'), { recursive: true });
  mkdirSync(outside);
  for (let index = 1; index <= 40; index += 1) writeFileSync(join(source, 'a', `a${String(index).padStart(2, '0')}.txt`), `in the tree: a${index}`);
  for (const name of ['b01.txt', 'b02.txt']) {
    writeFileSync(join(source, 'b', name), `in the tree: ${name}`);
    writeFileSync(join(outside, name), `OUTSIDE the tree: ${name}`);
  }
  writeFileSync(join(outside, 'secret.txt'), 'OUTSIDE the tree: secret');
  return { source, outside };
}

async function bodiesUnder(prefix: string): Promise<string[]> {
  const bodies: string[] = [];
  for (const key of await listKeys(client, bucket, prefix)) {
    bodies.push(`${key}: ${await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString()}`);
  }
  return bodies;
}

describe('a source folder swapped for a link mid-run', () => {
  it.each([
    ['sync up', (source: string, prefix: string) => ['sync', source, `s3://${bucket}/${prefix}/`, '--concurrency', '1']],
    ['put -r', (source: string, prefix: string) => ['put', '-r', source, `s3://${bucket}/${prefix}/`, '--concurrency', '1']],
  ])('%s: nothing is read through the link', async (label, command) => {
    const prefix = label.replace(/\W+/g, '-');
    const { source, outside } = sourceTree(prefix);
    proxy.setRules([{ method: 'PUT', match: /\/a\/a\d+\.txt/, fault: { kind: 'hold', gate: prefix } }]);
    const run = startCli(command(source, prefix), proxied);
    await waitFor(() => proxy.held(prefix) > 0, 'an upload from a/ to be held');
    swapForLink(join(source, 'b'), outside);
    proxy.release(prefix);
    expect(await run.done).toBe(1);
    expect((await bodiesUnder(`${prefix}/`)).filter((body) => body.includes('OUTSIDE'))).toEqual([]);
  });
});

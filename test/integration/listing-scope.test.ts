/**
 * A listing names only what was asked for: a key from outside the listed prefix, or a page that goes
 * back (a continuation token that loops), is a damaged answer — never a key that `rm -r` deletes,
 * `mv -r` moves, `sync` overwrites or `get -r` writes. Damage that stays inside the prefix (one flipped
 * letter of a name) never deletes a local file either: a download sync looks once more before deleting.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { createTestBucket, emptyAndDeleteBucket, listKeys, runCli, s3Env, tempDirectory, testClient } from '../support/harness.js';

const work = tempDirectory('listing-scope');
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let proxied: NodeJS.ProcessEnv;
const LIST = /[?&]list-type=2/;
const cli = (args: string[]) => runCli([...args, '--retries', '1'], { env: proxied });

async function put(key: string, body: string): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

async function exists(key: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'scope');
  proxy = new FaultProxy(inject('s3').endpoint!);
  proxied = s3Env({ AWS_ENDPOINT_URL: await proxy.start(), DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_CACHE_DIR: join(work.path, 'cache') });
});
afterAll(async () => {
  await proxy.stop();
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

describe('a key from outside the prefix is a damaged answer', () => {
  // Every listing answer names keep/a.txt where the server said junk/a.txt.
  const outside = { method: 'GET', match: LIST, fault: { kind: 'rewrite-response' as const, from: '<Key>junk/a.txt</Key>', to: '<Key>keep/a.txt</Key>' } };

  it('rm -r deletes nothing outside the prefix (exit 1)', async () => {
    await put('keep/a.txt', 'important');
    await put('junk/a.txt', 'junk a');
    await put('junk/b.txt', 'junk b');
    proxy.setRules([outside]);
    const result = await cli(['rm', '-r', `s3://${bucket}/junk/`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/damaged answer.*not under the prefix/);
    expect(await exists('keep/a.txt')).toBe(true);
  });

  it('mv -r moves nothing from outside the prefix (exit 1)', async () => {
    proxy.setRules([outside]);
    const result = await cli(['mv', '-r', `s3://${bucket}/junk/`, `s3://${bucket}/moved/`]);
    expect(result.code).toBe(1);
    expect(await exists('keep/a.txt')).toBe(true);
    expect(await listKeys(client, bucket, 'moved/')).toEqual([]);
  });

  it('sync up --delete deletes nothing outside the prefix; get -r writes nothing from it', async () => {
    const tree = join(work.path, 'up');
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, 'b.txt'), 'junk b');
    proxy.setRules([outside]);
    const sync = await cli(['sync', tree, `s3://${bucket}/junk/`, '--delete']);
    expect(sync.code).toBe(1);
    expect(await exists('keep/a.txt')).toBe(true);
    const got = join(work.path, 'got');
    const get = await cli(['get', '-r', `s3://${bucket}/junk/`, got]);
    expect(get.code).toBe(1);
    expect(existsSync(join(got, 'a.txt'))).toBe(false);
  });

  it('a page that goes back (a continuation token that loops) ends the run, exit 1', async () => {
    // Two pages (a page holds 1,000 keys): the second one answers with a key of the first again.
    const keys = Array.from({ length: 1002 }, (_, index) => `loop/k${String(index).padStart(4, '0')}.txt`);
    for (let index = 0; index < keys.length; index += 50) await Promise.all(keys.slice(index, index + 50).map((key) => put(key, 'k')));
    proxy.setRules([{ method: 'GET', match: /continuation-token=/, fault: { kind: 'rewrite-response', from: '<Key>loop/k1000.txt</Key>', to: '<Key>loop/k0000.txt</Key>' } }]);
    const result = await cli(['ls', `s3://${bucket}/loop/`, '--recursive']);
    expect(proxy.faults()).toBeGreaterThan(0);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/damaged answer.*ascending order/);
    expect(proxy.log.filter((entry) => LIST.test(entry.url)).length).toBeLessThan(10);
  });
});

describe('damage inside the prefix never deletes a local file', () => {
  it('a flipped letter in a name that --exclude hides: sync down --delete keeps the file', async () => {
    for (const name of ['f05.txt', 'f06.txt']) await put(`s1/${name}`, `body ${name}`);
    const local = join(work.path, 'down');
    proxy.setRules([]);
    expect((await cli(['sync', `s3://${bucket}/s1/`, local])).code).toBe(0);
    // f05.txt is listed as g05.txt, a name the filter leaves out: f05.txt looks extraneous.
    proxy.setRules([{ method: 'GET', match: LIST, fault: { kind: 'rewrite-response', from: '<Key>s1/f05.txt</Key>', to: '<Key>s1/g05.txt</Key>' } }]);
    const result = await cli(['sync', `s3://${bucket}/s1/`, local, '--delete', '--exclude', 'g*', '--json']);
    expect(existsSync(join(local, 'f05.txt')), 'no local file deleted because a listing was damaged').toBe(true);
    expect(JSON.parse(result.stdout.trim().split('\n').pop()!)).toMatchObject({ deleted: 0 });
  });
});

describe('a stored MD5 never outvotes the ETag', () => {
  it('an object whose md5chksum contradicts its plain-MD5 ETag is not "the same" as the file the metadata names', async () => {
    const { createHash } = await import('node:crypto');
    const a = 'the bytes of file A\n';
    const b = 'the bytes of file B\n';
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'v/obj.txt', Body: b, Metadata: { md5chksum: createHash('md5').update(a).digest('base64') } }),
    );
    const fileA = join(work.path, 'v', 'obj.txt');
    mkdirSync(join(work.path, 'v'), { recursive: true });
    writeFileSync(fileA, a);
    proxy.setRules([]);
    const verify = await cli(['verify', `s3://${bucket}/v/obj.txt`, '--local', fileA]);
    expect(verify.code).toBe(1);
    const sync = await cli(['sync', join(work.path, 'v'), `s3://${bucket}/v/`, '--json']);
    expect(sync.code).toBe(0);
    expect(JSON.parse(sync.stdout.trim().split('\n').pop()!)).toMatchObject({ transferred: 1 });
  });
});

describe('a key named like a temporary download file', () => {
  it('is not downloaded by get -r beside the object whose temporary file it imitates; that object arrives whole', async () => {
    const { createHash, randomBytes } = await import('node:crypto');
    const big = randomBytes(3 * 1024 * 1024);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'tn/big.bin', Body: big }));
    await put('tn/.big.bin.datalake-part', 'precious');
    proxy.setRules([]);
    const { readFileSync } = await import('node:fs');
    for (let round = 0; round < 3; round += 1) {
      const target = join(work.path, `tn-${round}`);
      const result = await cli(['get', '-r', `s3://${bucket}/tn/`, target]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/named like a temporary file/);
      expect(createHash('md5').update(readFileSync(join(target, 'big.bin'))).digest('hex')).toBe(createHash('md5').update(big).digest('hex'));
      expect(existsSync(join(target, '.big.bin.datalake-part'))).toBe(false);
    }
  });
});

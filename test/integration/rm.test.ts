import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { createTestBucket, emptyAndDeleteBucket, lastJson, listKeys, runCli, s3Env, testClient } from '../support/harness.js';

let client: S3Client;
let bucket: string;
const versionedBuckets: string[] = [];

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'rm');
});
afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  for (const versioned of versionedBuckets) await removeVersionedBucket(versioned);
  client.destroy();
});

async function putObjects(keys: string[], body: string | Buffer = 'x', where = bucket): Promise<void> {
  for (let i = 0; i < keys.length; i += 50) {
    await Promise.all(keys.slice(i, i + 50).map((Key) => client.send(new PutObjectCommand({ Bucket: where, Key, Body: body }))));
  }
}

async function versionsOf(where: string, prefix = ''): Promise<Array<{ key: string; versionId: string; marker: boolean }>> {
  const page = await client.send(new ListObjectVersionsCommand({ Bucket: where, Prefix: prefix }));
  return [
    ...(page.Versions ?? []).map((v) => ({ key: v.Key!, versionId: v.VersionId!, marker: false })),
    ...(page.DeleteMarkers ?? []).map((v) => ({ key: v.Key!, versionId: v.VersionId!, marker: true })),
  ].sort((a, b) => a.key.localeCompare(b.key));
}

async function versionedBucket(label: string, options: { objectLock?: boolean } = {}): Promise<string> {
  const name = `dl-test-${label}-${randomBytes(4).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: name, ...(options.objectLock ? { ObjectLockEnabledForBucket: true } : {}) }));
  if (!options.objectLock) await client.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }));
  versionedBuckets.push(name);
  return name;
}

async function removeVersionedBucket(name: string): Promise<void> {
  for (const version of await versionsOf(name)) {
    await client.send(new DeleteObjectCommand({ Bucket: name, Key: version.key, VersionId: version.versionId, BypassGovernanceRetention: true }));
  }
  await client.send(new DeleteBucketCommand({ Bucket: name }));
}

describe('rm: one object', () => {
  it('deletes the object named and nothing else', async () => {
    await putObjects(['one/a.csv', 'one/b.csv']);
    const result = await runCli(['rm', `s3://${bucket}/one/a.csv`]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`deleted s3://${bucket}/one/a.csv`);
    expect(await listKeys(client, bucket, 'one/')).toEqual(['one/b.csv']);
  });

  it('a missing object is exit 1 naming it; a prefix without --recursive is exit 2; nothing is deleted', async () => {
    await putObjects(['two/a.csv']);
    const missing = await runCli(['rm', `s3://${bucket}/two/nope.csv`, '--json']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`no such object s3://${bucket}/two/nope.csv`);
    expect(lastJson(missing)).toMatchObject({ deleted: [], failed: [], error: { code: 'NoSuchKey' } });
    const prefix = await runCli(['rm', `s3://${bucket}/two/`]);
    expect(prefix.code).toBe(2);
    expect(prefix.stderr.trim().split('\n')).toHaveLength(1);
    const noConfirm = await runCli(['rm', `s3://${bucket}/two/a.csv`, '--all-versions']);
    expect(noConfirm.code).toBe(2);
    expect(noConfirm.stderr).toContain('--yes');
    const filterWithoutRecursive = await runCli(['rm', `s3://${bucket}/two/a.csv`, '--exclude', '*.csv']);
    expect(filterWithoutRecursive.code).toBe(2);
    const badCount = await runCli(['rm', '-r', `s3://${bucket}/two/`, '--max-delete', 'many']);
    expect(badCount.code).toBe(2);
    expect(await listKeys(client, bucket, 'two/')).toEqual(['two/a.csv']);
  });
  it('--all-versions --yes on an unversioned bucket deletes the one (null) version there is', async () => {
    await putObjects(['three/a.csv', 'three/b.csv']);
    const result = await runCli(['rm', `s3://${bucket}/three/a.csv`, '--all-versions', '--yes', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson<{ deleted: Array<{ key: string }> }>(result).deleted.map((d) => d.key)).toEqual(['three/a.csv']);
    expect(await listKeys(client, bucket, 'three/')).toEqual(['three/b.csv']);
  });
});

describe('rm --recursive', () => {
  it('--dry-run lists what would go and changes nothing', async () => {
    await putObjects(['dry/a.csv', 'dry/sub/b.csv']);
    const result = await runCli(['rm', '-r', `s3://${bucket}/dry/`, '--dry-run', '--json']);
    expect(result.code).toBe(0);
    expect(lastJson(result)).toEqual({ bucket, dryRun: true, deleted: [{ key: 'dry/a.csv' }, { key: 'dry/sub/b.csv' }], failed: [] });
    expect(await listKeys(client, bucket, 'dry/')).toEqual(['dry/a.csv', 'dry/sub/b.csv']);
    const human = await runCli(['rm', '-r', `s3://${bucket}/dry`, '--dry-run']);
    expect(human.stdout).toContain(`(dry run) would delete s3://${bucket}/dry/sub/b.csv`);
    expect(await listKeys(client, bucket, 'dry/')).toEqual(['dry/a.csv', 'dry/sub/b.csv']);
  });

  it('--max-delete refuses, exit 1, before deleting anything; at the limit everything goes', async () => {
    const keys = ['max/1', 'max/2', 'max/3', 'max/4', 'max/5'];
    await putObjects(keys);
    const refused = await runCli(['rm', '-r', `s3://${bucket}/max/`, '--max-delete', '4', '--json']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('refusing to delete more than --max-delete 4');
    expect(lastJson(refused)).toMatchObject({ deleted: [], error: { code: 'failed' } });
    expect(await listKeys(client, bucket, 'max/')).toEqual(keys);
    const allowed = await runCli(['rm', '-r', `s3://${bucket}/max/`, '--max-delete', '5']);
    expect(allowed.code).toBe(0);
    expect(await listKeys(client, bucket, 'max/')).toEqual([]);
  });

  it("--exclude/--include follow sync's rules on names relative to the prefix", async () => {
    await putObjects(['flt/a.csv', 'flt/a.tmp', 'flt/logs/x.log', 'flt/logs/keep.log', 'flt/deep/b.tmp']);
    const result = await runCli(['rm', '-r', `s3://${bucket}/flt/`, '--exclude', '*.tmp', '--exclude', 'logs/**', '--include', 'logs/x.log', '--json']);
    expect(result.code).toBe(0);
    expect((lastJson<{ deleted: Array<{ key: string }> }>(result)).deleted.map((d) => d.key)).toEqual(['flt/a.csv', 'flt/logs/x.log']);
    expect(await listKeys(client, bucket, 'flt/')).toEqual(['flt/a.tmp', 'flt/deep/b.tmp', 'flt/logs/keep.log']);
  });

  it('deletes 1,050 keys in two DeleteObjects requests of at most 1,000', async () => {
    const keys = Array.from({ length: 1050 }, (_, i) => `many/${String(i).padStart(4, '0')}`);
    await putObjects(keys);
    const proxy = new FaultProxy(inject('s3').endpoint!);
    const endpoint = await proxy.start();
    try {
      proxy.setRules([]);
      const result = await runCli(['rm', '-r', `s3://${bucket}/many/`, '--json'], { env: s3Env({ AWS_ENDPOINT_URL: endpoint }) });
      expect(result.code).toBe(0);
      expect((lastJson<{ deleted: unknown[] }>(result)).deleted).toHaveLength(1050);
      expect(proxy.log.filter((entry) => entry.method === 'POST' && /[?&]delete/.test(entry.url))).toHaveLength(2);
    } finally {
      await proxy.stop();
    }
    expect(await listKeys(client, bucket, 'many/')).toEqual([]);
  });
});

/**
 * A DeleteObjects body is XML 1.0, which cannot carry ESC, BEL or most other C0 controls (S3 allows
 * them in keys): such a key is deleted by a DeleteObject of its own, and the rest of its batch goes as usual.
 */
describe('rm of keys XML 1.0 cannot carry', () => {
  it('rm of one object whose key holds an escape character deletes it, exit 0', async () => {
    await putObjects(['xml1/esc\u001b[31mred.txt', 'xml1/plain.txt']);
    const result = await runCli(['rm', `s3://${bucket}/xml1/esc\u001b[31mred.txt`, '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(lastJson(result)).toMatchObject({ deleted: [{ key: 'xml1/esc\u001b[31mred.txt' }], failed: [] });
    expect(await listKeys(client, bucket, 'xml1/')).toEqual(['xml1/plain.txt']);
  });

  it('rm -r: keys with ESC and BEL are each deleted on their own, and every other key of the batch with them', async () => {
    const keys = ['xml2/a.csv', 'xml2/bell\u0007.csv', 'xml2/c.csv', 'xml2/esc\u001b.csv', 'xml2/sub/d.csv'];
    await putObjects(keys);
    const result = await runCli(['rm', '-r', `s3://${bucket}/xml2/`, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const document = lastJson<{ deleted: Array<{ key: string }>; failed: unknown[] }>(result);
    expect(document.failed).toEqual([]);
    expect(document.deleted.map((entry) => entry.key).sort()).toEqual([...keys].sort());
    expect(await listKeys(client, bucket, 'xml2/')).toEqual([]);
  });

  it('rm -r --all-versions finds every version of such a key and deletes each one', async () => {
    const versioned = await versionedBucket('rmx');
    await putObjects(['x/esc\u001b.csv', 'x/plain.csv'], 'first', versioned);
    await putObjects(['x/esc\u001b.csv'], 'second', versioned);
    const result = await runCli(['rm', '-r', `s3://${versioned}/x/`, '--all-versions', '--yes', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const document = lastJson<{ deleted: Array<{ key: string; versionId?: string }>; failed: unknown[] }>(result);
    expect(document.failed).toEqual([]);
    expect(document.deleted.map((entry) => entry.key).sort()).toEqual(['x/esc\u001b.csv', 'x/esc\u001b.csv', 'x/plain.csv']);
    const left = await client.send(new ListObjectVersionsCommand({ Bucket: versioned, Prefix: 'x/' }));
    expect([...(left.Versions ?? []), ...(left.DeleteMarkers ?? [])]).toEqual([]);
  });

  it('a batch the server refuses as MalformedXML is deleted key by key', async () => {
    const keys = ['xml3/a.csv', 'xml3/b.csv', 'xml3/c.csv'];
    await putObjects(keys);
    const proxy = new FaultProxy(inject('s3').endpoint!);
    const endpoint = await proxy.start();
    try {
      // A server whose XML reader refuses what S3's takes: the batch as a whole is refused, once.
      proxy.setRules([{ method: 'POST', match: /[?&]delete/, times: 1, fault: { kind: 'status', status: 400, code: 'MalformedXML' } }]);
      const result = await runCli(['rm', '-r', `s3://${bucket}/xml3/`, '--json'], { env: s3Env({ AWS_ENDPOINT_URL: endpoint }) });
      expect(result.code, result.stderr).toBe(0);
      expect(proxy.faults('status')).toBe(1);
      expect((lastJson<{ deleted: unknown[] }>(result)).deleted).toHaveLength(3);
      expect(proxy.log.filter((entry) => entry.method === 'DELETE')).toHaveLength(3);
    } finally {
      await proxy.stop();
    }
    expect(await listKeys(client, bucket, 'xml3/')).toEqual([]);
  });
});

describe('rm on a versioned bucket', () => {
  it('a delete makes a delete marker and keeps the versions; --all-versions --yes removes every version and marker', async () => {
    const versioned = await versionedBucket('rmv');
    await putObjects(['v/a.csv'], 'first', versioned);
    await putObjects(['v/a.csv', 'v/b.csv'], 'second', versioned);
    const marker = await runCli(['rm', `s3://${versioned}/v/a.csv`, '--json']);
    expect(marker.code).toBe(0);
    expect(lastJson(marker)).toMatchObject({ deleted: [{ key: 'v/a.csv', deleteMarker: true }], failed: [] });
    const after = await versionsOf(versioned, 'v/a.csv');
    expect(after.filter((v) => !v.marker)).toHaveLength(2);
    expect(after.filter((v) => v.marker)).toHaveLength(1);

    const refused = await runCli(['rm', '-r', `s3://${versioned}/v/`, '--all-versions']);
    expect(refused.code).toBe(2);
    expect(await versionsOf(versioned, 'v/')).toHaveLength(4);

    const all = await runCli(['rm', '-r', `s3://${versioned}/v/`, '--all-versions', '--yes', '--json']);
    expect(all.code).toBe(0);
    const document = lastJson<{ deleted: Array<{ key: string; versionId?: string; isDeleteMarker?: boolean }> }>(all);
    expect(document.deleted).toHaveLength(4);
    expect(document.deleted.every((d) => typeof d.versionId === 'string')).toBe(true);
    expect(document.deleted.filter((d) => d.isDeleteMarker)).toHaveLength(1);
    expect(await versionsOf(versioned, 'v/')).toEqual([]);
  });

  it('every key the server refuses in a DeleteObjects answer is named, the others go, exit 1', async () => {
    const locked = await versionedBucket('rml', { objectLock: true });
    await putObjects(['l/free.csv'], 'free', locked);
    const retainUntil = new Date(Date.now() + 24 * 3600 * 1000);
    await client.send(new PutObjectCommand({ Bucket: locked, Key: 'l/held.csv', Body: 'held', ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: retainUntil, ChecksumAlgorithm: 'CRC32' }));
    const result = await runCli(['rm', '-r', `s3://${locked}/l/`, '--all-versions', '--yes', '--json']);
    expect(result.code).toBe(1);
    const document = lastJson<{ deleted: Array<{ key: string }>; failed: Array<{ key: string; error: string }> }>(result);
    expect(document.deleted.map((d) => d.key)).toEqual(['l/free.csv']);
    expect(document.failed).toHaveLength(1);
    expect(document.failed[0]!.key).toBe('l/held.csv');
    // MinIO names the refusal in the answer; moto leaves the key out of it, which is a failure too.
    expect(document.failed[0]!.error).toMatch(/AccessDenied|InvalidRequest|WORM|retention|did not report this key deleted/i);
    expect(result.stderr).toContain(`datalake: failed: s3://${locked}/l/held.csv`);
    expect((await versionsOf(locked, 'l/')).map((v) => v.key)).toEqual(['l/held.csv']);
  });
});

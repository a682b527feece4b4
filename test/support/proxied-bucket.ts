/**
 * The bed of the tests that stop or break a run at a chosen request: a bucket of the test server for
 * the file alone, and a fault proxy (test/support/fault-proxy.ts) in front of the server.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import { FaultProxy } from './fault-proxy.js';
import { createTestBucket, emptyAndDeleteBucket, testClient } from './harness.js';

export interface ProxiedBucket {
  /** A plain SDK client of the test server, not through the proxy: the test's own reader and writer. */
  client: S3Client;
  bucket: string;
  proxy: FaultProxy;
  /** The proxy's address, for the AWS_ENDPOINT_URL of a run that goes through it. */
  endpoint: string;
}

/** Makes the bucket (its name starts with `label`) and starts the proxy. */
export async function openProxiedBucket(label: string): Promise<ProxiedBucket> {
  const client = testClient();
  const bucket = await createTestBucket(client, label);
  const proxy = new FaultProxy(inject('s3').endpoint ?? '');
  return { client, bucket, proxy, endpoint: await proxy.start() };
}

/** Stops the proxy, then empties and deletes the bucket. */
export async function closeProxiedBucket(bed: Pick<ProxiedBucket, 'client' | 'bucket' | 'proxy'>): Promise<void> {
  await bed.proxy.stop();
  await emptyAndDeleteBucket(bed.client, bed.bucket);
  bed.client.destroy();
}

/**
 * Starts the real S3 the integration tests talk to: a MinIO built from source on a loopback port with
 * a throw-away data directory, stopped when the run ends. DATALAKE_TEST_ENDPOINT (with the usual AWS_*
 * credentials) points the suite at another server instead, such as real AWS.
 */
import type { TestProject } from 'vitest/node';
import { DEV_ACCESS_KEY, DEV_SECRET_KEY, startMinio, type RunningMinio } from '../../scripts/lib/minio.js';

export interface S3Target {
  endpoint: string | undefined;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  isMinio: boolean;
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3: S3Target;
  }
}

let minio: RunningMinio | undefined;

export default async function setup(project: TestProject) {
  const external = process.env.DATALAKE_TEST_ENDPOINT;
  if (external !== undefined) {
    project.provide('s3', {
      endpoint: external === 'aws' ? undefined : external,
      region: process.env.AWS_REGION ?? 'us-east-1',
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? '',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '',
      isMinio: false,
    });
    return;
  }
  minio = await startMinio();
  project.provide('s3', { endpoint: minio.endpoint, region: 'us-east-1', accessKeyId: DEV_ACCESS_KEY, secretAccessKey: DEV_SECRET_KEY, isMinio: true });
  return async () => {
    await minio?.stop();
  };
}

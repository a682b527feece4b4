/**
 * Starts the real S3 the integration tests talk to: a MinIO built from source on a loopback port with
 * a throw-away data directory, stopped when the run ends. DATALAKE_TEST_ENDPOINT (with the usual AWS_*
 * credentials) points the suite at another server instead, such as real AWS.
 */
import type { TestProject } from 'vitest/node';
import { DEV_ACCESS_KEY, DEV_SECRET_KEY, freePort, startMinio, type RunningMinio } from '../../scripts/lib/minio.js';
import { startMoto, type RunningMoto } from '../../scripts/lib/python-tools.js';

export interface S3Target {
  endpoint: string | undefined;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  isMinio: boolean;
}

/** moto's server: a second S3 implementation, for settings MinIO rejects (public access block, transitions). */
export interface SecondS3 {
  endpoint: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3: S3Target;
    moto: SecondS3;
  }
}

let minio: RunningMinio | undefined;
let moto: RunningMoto | undefined;

export default async function setup(project: TestProject) {
  moto = await startMoto(await freePort());
  project.provide('moto', { endpoint: moto.endpoint });
  const external = process.env.DATALAKE_TEST_ENDPOINT;
  if (external !== undefined) {
    project.provide('s3', {
      endpoint: external === 'aws' ? undefined : external,
      region: process.env.AWS_REGION ?? 'us-east-1',
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? '',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '',
      isMinio: false,
    });
    return async () => {
      await moto?.stop();
    };
  }
  minio = await startMinio();
  project.provide('s3', { endpoint: minio.endpoint, region: 'us-east-1', accessKeyId: DEV_ACCESS_KEY, secretAccessKey: DEV_SECRET_KEY, isMinio: true });
  return async () => {
    await Promise.all([minio?.stop(), moto?.stop()]);
  };
}

/**
 * Starts the real S3 server a test project talks to — one project per server of test/support/servers.ts
 * (MinIO, moto at two versions, SeaweedFS), each on a loopback port with throw-away data, stopped when
 * the run ends — and provides it to the tests as `inject('s3')`. DATALAKE_TEST_ENDPOINT (with the usual
 * AWS_* credentials) points the MinIO project at another server instead, such as real AWS.
 */
import type { TestProject } from 'vitest/node';
import { DEV_ACCESS_KEY, DEV_SECRET_KEY, freePort, startMinio } from '../../scripts/lib/minio.js';
import { OLDER_MOTO_REQUIREMENTS, startMoto } from '../../scripts/lib/python-tools.js';
import { SEAWEEDFS_ACCESS_KEY, SEAWEEDFS_SECRET_KEY, startSeaweedfs } from '../../scripts/lib/seaweedfs.js';
import { AWS_CAPABILITIES, serverEntry, type Capabilities, type ServerName } from './servers.js';

export interface S3Target {
  /** Which server of test/support/servers.ts, or `external` for DATALAKE_TEST_ENDPOINT. */
  server: ServerName | 'external';
  endpoint: string | undefined;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  isMinio: boolean;
  capabilities: Capabilities;
}

/** moto's server: for settings the server under test may reject (public access block, transitions). */
export interface SecondS3 {
  endpoint: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3: S3Target;
    moto: SecondS3;
  }
}

interface Running {
  endpoint: string;
  stop(): Promise<void>;
}

const MOTO_KEYS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export default async function setup(project: TestProject) {
  const name = project.name as ServerName;
  const { capabilities } = serverEntry(name);
  const running: Running[] = [];
  const stopAll = async () => {
    await Promise.all(running.map((server) => server.stop()));
  };
  const target = (endpoint: string, keys: { accessKeyId: string; secretAccessKey: string }): S3Target => ({
    server: name,
    endpoint,
    region: 'us-east-1',
    ...keys,
    isMinio: name === 'minio',
    capabilities,
  });
  try {
    if (name === 'moto' || name === 'moto-5.2.1') {
      const moto = await startMoto(await freePort(), name === 'moto' ? undefined : OLDER_MOTO_REQUIREMENTS);
      running.push(moto);
      // The moto of the tests written for moto is the server under test itself.
      project.provide('s3', target(moto.endpoint, MOTO_KEYS));
      project.provide('moto', { endpoint: moto.endpoint });
      return stopAll;
    }
    const moto = await startMoto(await freePort());
    running.push(moto);
    project.provide('moto', { endpoint: moto.endpoint });
    if (name === 'seaweedfs') {
      const seaweedfs = await startSeaweedfs();
      running.push(seaweedfs);
      project.provide('s3', target(seaweedfs.endpoint, { accessKeyId: SEAWEEDFS_ACCESS_KEY, secretAccessKey: SEAWEEDFS_SECRET_KEY }));
      return stopAll;
    }
    const external = process.env.DATALAKE_TEST_ENDPOINT;
    if (external !== undefined) {
      project.provide('s3', {
        server: 'external',
        endpoint: external === 'aws' ? undefined : external,
        region: process.env.AWS_REGION ?? 'us-east-1',
        accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? '',
        secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '',
        isMinio: false,
        capabilities: AWS_CAPABILITIES,
      });
      return stopAll;
    }
    const minio = await startMinio();
    running.push(minio);
    project.provide('s3', target(minio.endpoint, { accessKeyId: DEV_ACCESS_KEY, secretAccessKey: DEV_SECRET_KEY }));
    return stopAll;
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * `npm run minio:install | minio:start | minio:stop`: the local MinIO of `.env.example`.
 * start reuses a server already answering at the configured endpoint; stop stops only one it started.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DEV_ACCESS_KEY, DEV_SECRET_KEY, installMinio, isAnswering, startMinio } from './lib/minio.js';
import { parseDotenv } from '../src/core/config/dotenv.js';

const STATE_DIRECTORY = '.minio';
const STATE_FILE = join(STATE_DIRECTORY, 'state.json');

function configured(): { endpoint: string; bucket: string | undefined } {
  const fromFile = (name: string) => (existsSync(name) ? parseDotenv(readFileSync(name, 'utf8'), name) : {});
  const env = { ...fromFile('.env.example'), ...fromFile('.env'), ...process.env } as Record<string, string | undefined>;
  return { endpoint: env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? 'http://127.0.0.1:9000', bucket: env.DATALAKE_BUCKET };
}

async function start(): Promise<void> {
  const { endpoint, bucket } = configured();
  const url = new URL(endpoint);
  if (await isAnswering(endpoint)) {
    console.log(`MinIO already answering at ${endpoint}: reusing it`);
  } else {
    if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') throw new Error(`${endpoint} is not on loopback; start your server yourself`);
    mkdirSync(STATE_DIRECTORY, { recursive: true });
    const minio = await startMinio({ port: Number(url.port || 80), detached: true, logFile: join(STATE_DIRECTORY, 'minio.log') });
    writeFileSync(STATE_FILE, JSON.stringify({ pid: minio.pid, dataDirectory: minio.dataDirectory, endpoint }));
    console.log(`MinIO started at ${endpoint} (data in ${minio.dataDirectory}; stop with npm run minio:stop)`);
  }
  if (bucket) {
    const client = new S3Client({
      endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? DEV_ACCESS_KEY, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? DEV_SECRET_KEY },
    });
    await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((error: { name?: string }) => {
      if (error.name !== 'BucketAlreadyOwnedByYou' && error.name !== 'BucketAlreadyExists') throw error;
    });
    client.destroy();
    console.log(`bucket ${bucket} ready`);
  }
}

function stop(): void {
  if (!existsSync(STATE_FILE)) {
    console.log('no MinIO started by npm run minio:start');
    return;
  }
  const state = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as { pid: number; dataDirectory: string };
  try {
    process.kill(state.pid, 'SIGTERM');
  } catch {
    // already gone
  }
  rmSync(state.dataDirectory, { recursive: true, force: true });
  rmSync(STATE_FILE);
  console.log(`MinIO stopped (pid ${state.pid})`);
}

const action = process.argv[2];
try {
  if (action === 'install') installMinio();
  else if (action === 'start') await start();
  else if (action === 'stop') stop();
  else throw new Error('usage: tsx scripts/minio.ts install|start|stop');
} catch (error) {
  console.error(`minio: ${(error as Error).message}`);
  process.exit(1);
}

/**
 * `npm run bench:plan [-- FILES]`: plans a sync of a large local tree (1,000,000 empty files by
 * default, 1,000 per folder) against an empty prefix with --dry-run, and records wall time and peak
 * RSS with /usr/bin/time. The goal is under 300 MiB: memory must not grow with the number of files.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DEV_ACCESS_KEY, DEV_SECRET_KEY, startMinio } from '../scripts/lib/minio.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const files = Number(process.argv[2] ?? 1_000_000);
const perFolder = 1000;
const tree = join(root, 'bench', 'data', `tree-${files}`);

if (!existsSync(`${tree}.complete`)) {
  console.log(`creating ${files.toLocaleString()} empty files under ${tree} …`);
  for (let i = 0; i < files; i += 1) {
    const folder = join(tree, `d${String(Math.floor(i / perFolder)).padStart(5, '0')}`);
    if (i % perFolder === 0) mkdirSync(folder, { recursive: true });
    closeSync(openSync(join(folder, `f${String(i % perFolder).padStart(4, '0')}.csv`), 'w'));
  }
  writeFileSync(`${tree}.complete`, '');
}

const minio = await startMinio();
try {
  const client = new S3Client({ endpoint: minio.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: DEV_ACCESS_KEY, secretAccessKey: DEV_SECRET_KEY } });
  await client.send(new CreateBucketCommand({ Bucket: 'plan' }));
  client.destroy();
  const timing = join(root, 'bench', 'data', 'plan-time.txt');
  const result = spawnSync('/usr/bin/time', ['-v', '-o', timing, process.execPath, join(root, 'bin', 'datalake'), 'sync', tree, 's3://plan/empty/', '--dry-run', '--json', '--no-progress'], {
    env: { ...process.env, AWS_ENDPOINT_URL: minio.endpoint, AWS_ACCESS_KEY_ID: DEV_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: DEV_SECRET_KEY, AWS_REGION: 'us-east-1', DATALAKE_CACHE_DIR: join(root, 'bench', 'data', 'cache') },
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  const report = JSON.parse(result.stdout) as { transferred: number };
  const text = readFileSync(timing, 'utf8');
  const rssKiB = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1]);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)/.exec(text)?.[1];
  const summary = { files, planned: report.transferred, wall, peakRssMiB: Math.round(rssKiB / 1024), goalMiB: 300, date: new Date().toISOString().slice(0, 10) };
  console.log(JSON.stringify(summary));
  writeFileSync(join(root, 'bench', 'plan-sync.json'), `${JSON.stringify(summary, null, 2)}\n`);
  if (report.transferred !== files) process.exitCode = 1;
} finally {
  await minio.stop();
}

/**
 * `npm run demo`: a real MinIO (started here unless one already answers), then datalake as a user
 * types it — put into the lake layout, ls, get back, and proof that the bytes are the same.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDotenv } from '../src/core/config/dotenv.js';
import { isAnswering, startMinio, type RunningMinio } from './lib/minio.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'datalake');
const settings = { ...parseDotenv(readFileSync(join(root, '.env.example'), 'utf8')), ...(existsSync(join(root, '.env')) ? parseDotenv(readFileSync(join(root, '.env'), 'utf8')) : {}) };
const env: NodeJS.ProcessEnv = { ...settings, ...process.env };
const work = mkdtempSync(join(tmpdir(), 'datalake-demo-'));
// The demo's hash cache and sync locks live in its scratch folder, not the user's.
env.DATALAKE_CACHE_DIR ??= join(work, 'cache');
env.DATALAKE_STATE_DIR ??= join(work, 'state');
const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? 'http://127.0.0.1:9000';
const bucket = env.DATALAKE_BUCKET ?? 'lake';

function step(title: string): void {
  process.stdout.write(`\n\x1b[1m== ${title}\x1b[0m\n`);
}

function datalake(args: string[], options: { capture?: boolean } = {}): string {
  process.stdout.write(`$ datalake ${args.join(' ')}\n`);
  const result = spawnSync(process.execPath, [bin, ...args], { env, cwd: work, stdio: ['ignore', options.capture ? 'pipe' : 'inherit', 'inherit'], encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`datalake ${args[0]} exited ${result.status}`);
  if (options.capture) process.stdout.write(result.stdout);
  return result.stdout ?? '';
}

const md5 = (path: string) => createHash('md5').update(readFileSync(path)).digest('hex');
let minio: RunningMinio | undefined;
try {
  step('a real S3: MinIO on loopback');
  if (await isAnswering(endpoint)) {
    console.log(`reusing the MinIO answering at ${endpoint}`);
  } else {
    minio = await startMinio({ port: Number(new URL(endpoint).port) });
    console.log(`started MinIO at ${endpoint} (stopped at the end of the demo)`);
  }

  step('init: the bucket, made lake-ready (MinIO reports what it does not implement)');
  datalake(['init', '--bucket', bucket]);

  step('put: a CSV into the raw zone, and a 40 MiB file in parts');
  const rows = ['id,subreddit,score', ...Array.from({ length: 2000 }, (_, i) => `${i},r/data${i % 7},${(i * 37) % 101}`)];
  writeFileSync(join(work, 'events.csv'), `${rows.join('\n')}\n`);
  writeFileSync(join(work, 'big.bin'), randomBytes(40 * 1024 * 1024));
  datalake(['put', 'events.csv', '--zone', 'raw', '--dataset', 'reddit', '--date', '2024-01-15', '--tag', 'source=demo']);
  datalake(['put', 'big.bin', `s3://${bucket}/processed/demo/big.bin`, '--no-progress']);

  step('ls: the lake');
  datalake(['ls', `s3://${bucket}/`, '--recursive']);

  step('get: back down, verified before it is renamed into place');
  datalake(['get', `s3://${bucket}/raw/reddit/year=2024/month=01/day=15/events.csv`, 'events.back.csv']);
  const json = datalake(['get', `s3://${bucket}/processed/demo/big.bin`, 'big.back.bin', '--json', '--no-progress'], { capture: true });
  const verifiedBy = (JSON.parse(json) as { objects: Array<{ verifiedBy: string }> }).objects[0]?.verifiedBy;

  step('sync: a directory tree up, a re-run that moves nothing, and back down');
  for (let day = 1; day <= 3; day += 1) {
    const folder = join(work, 'exports', `day=0${day}`);
    mkdirSync(folder, { recursive: true });
    for (let part = 0; part < 10; part += 1) writeFileSync(join(folder, `part-${part}.csv`), `${rows.slice(0, 50 + part * day).join('\n')}\n`);
  }
  datalake(['sync', 'exports', `s3://${bucket}/raw/exports/`, '--quiet']);
  datalake(['sync', 'exports', `s3://${bucket}/raw/exports/`]);
  datalake(['sync', `s3://${bucket}/raw/exports/`, 'exports.back']);
  const differing = spawnSync('diff', ['-r', join(work, 'exports'), join(work, 'exports.back')]).status;
  console.log(differing === 0 ? 'diff -r exports exports.back: identical' : 'diff -r found differences');
  if (differing !== 0) throw new Error('the synced tree differs');

  step('presign: share the CSV for 15 minutes, and fetch it as a stranger would');
  const presigned = JSON.parse(datalake(['presign', `s3://${bucket}/raw/reddit/year=2024/month=01/day=15/events.csv`, '--expires', '15m', '--json'], { capture: true })) as { url: string };
  const response = await fetch(presigned.url);
  const fetched = Buffer.from(await response.arrayBuffer());
  const sameAsLocal = createHash('md5').update(fetched).digest('hex') === md5(join(work, 'events.csv'));
  console.log(`GET presigned URL → HTTP ${response.status}, ${fetched.length} bytes, ${sameAsLocal ? 'identical to events.csv' : 'DIFFERENT'}`);
  if (!response.ok || !sameAsLocal) throw new Error('the presigned URL did not return the object');

  step('verify: prove the objects intact, against local files and on their own');
  datalake(['verify', `s3://${bucket}/processed/demo/big.bin`, '--local', 'big.bin']);
  datalake(['verify', `s3://${bucket}/raw/exports/`, '--local', 'exports', '--quiet']);
  datalake(['verify', `s3://${bucket}/raw/`, '--recursive', '--quiet']);
  console.log('every object verified');

  step('the bytes are the same');
  for (const [original, copy] of [['events.csv', 'events.back.csv'], ['big.bin', 'big.back.bin']] as const) {
    const [a, b] = [md5(join(work, original)), md5(join(work, copy))];
    console.log(`${original}: ${a}  ${copy}: ${b}  ${a === b ? 'identical' : 'DIFFERENT'}`);
    if (a !== b) throw new Error(`${copy} differs from ${original}`);
  }
  console.log(`big.bin was checked against ${verifiedBy} before it was renamed into place`);
  console.log('\ndemo finished: every byte proven');
} catch (error) {
  console.error(`demo failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await minio?.stop();
  rmSync(work, { recursive: true, force: true });
}

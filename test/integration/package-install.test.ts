/**
 * Installing off this repository as a user would: `npm pack` makes a tarball, `npm install -g` of it
 * into an empty prefix gives a `datalake` that uploads and downloads against the server — nothing of
 * the source tree, its node_modules or its development tools needed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, emptyAndDeleteBucket, s3Env, tempDirectory, testClient } from '../support/harness.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const work = tempDirectory('package');
let client: S3Client;
let bucket: string;

beforeAll(async () => {
  client = testClient();
  bucket = await createTestBucket(client, 'package');
});
afterAll(async () => {
  await emptyAndDeleteBucket(client, bucket);
  client.destroy();
  work.remove();
});

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }) {
  const result = spawnSync(command, args, { cwd: options.cwd, env: options.env ?? process.env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.error) throw result.error;
  return result;
}

describe('npm pack, then npm install -g of the tarball', () => {
  it('installs a datalake that puts and gets, verified, on its own', async () => {
    const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    // `npm pack` builds first (prepack); the suite's own build is already in place, so the test packs
    // it as it is rather than rebuilding under the other test files' feet.
    expect(manifest.scripts.prepack).toMatch(/npm run build/);
    const packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work.path], { cwd: REPO });
    expect(packed.status).toBe(0);
    const [{ filename, files }] = JSON.parse(packed.stdout) as [{ filename: string; files: Array<{ path: string }> }];
    const paths = files.map((file) => file.path);
    expect(paths).toContain('bin/datalake');
    expect(paths).toContain('dist/bundle/main.js');
    expect(paths.filter((path) => path.startsWith('src/') || path.startsWith('test/') || path.startsWith('node_modules/'))).toEqual([]);

    const prefix = join(work.path, 'prefix');
    const installed = run('npm', ['install', '--global', '--prefix', prefix, join(work.path, filename), '--no-audit', '--no-fund', '--prefer-offline'], { cwd: work.path });
    expect(installed.stderr).not.toMatch(/ERR!/);
    expect(installed.status).toBe(0);
    const datalake = join(prefix, 'bin', 'datalake');
    expect(existsSync(datalake)).toBe(true);

    // Run from an empty directory, with a PATH that has node and nothing of this repository.
    const env = s3Env();
    const file = join(work.path, 'hello.csv');
    writeFileSync(file, 'id,name\n1,datalake\n');
    const put = run(datalake, ['put', file, `s3://${bucket}/installed/hello.csv`, '--json'], { cwd: work.path, env });
    expect(put.stderr).toBe('');
    expect(put.status).toBe(0);
    const got = run(datalake, ['get', `s3://${bucket}/installed/hello.csv`, join(work.path, 'back.csv'), '--json'], { cwd: work.path, env });
    expect(got.status).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ objects: [{ key: 'installed/hello.csv', verifiedBy: expect.stringMatching(/crc32|md5|etag/) }] });
    expect(readFileSync(join(work.path, 'back.csv'), 'utf8')).toBe('id,name\n1,datalake\n');
    expect(readdirSync(work.path).filter((name) => name.includes('datalake-part'))).toEqual([]);
  });
});

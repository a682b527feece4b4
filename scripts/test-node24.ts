/**
 * `npm test`'s second leg: the unit tests and the MinIO project again, under Node.js 24 (the first
 * leg ran everything under the Node that runs npm, 20 in CI). Vitest's workers and every CLI the
 * tests start run on the Node that runs vitest (process.execPath), so all of it runs on 24. The other
 * servers' projects test S3 implementations, not Node, and are left to the first leg.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { installNode24, NODE24_VERSION } from './lib/node24.js';

const node = installNode24();
const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
process.stderr.write(`\nthe unit and minio projects again, on Node.js ${NODE24_VERSION}\n`);
const result = spawnSync(node, [vitest, 'run', '--project', 'unit', '--project', 'minio', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);

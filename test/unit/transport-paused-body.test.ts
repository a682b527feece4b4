import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patchedClientH1, undiciPausedParserPatch } from '../../scripts/undici-h1-patch.js';

/**
 * A server that closes the connection after its answer (`Connection: close`) while the reader is slower
 * than the network: undici 7's parser is paused by backpressure when the connection ends, which crashed
 * the process (undici issue #5360). Each case runs in a child process built as the shipped bundle is
 * (esbuild, with scripts/undici-h1-patch.ts), so a crash is a failed exit, not a lost test run.
 */

const MiB = 1024 * 1024;
let dir: string;
let client: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'datalake-paused-body-'));
  client = join(dir, 'client.mjs');
  await build({
    entryPoints: ['test/support/paused-body-client.ts'],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outfile: client,
    logLevel: 'warning',
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    plugins: [undiciPausedParserPatch],
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function download(declared: number, sent: number): { received: number; error?: string } {
  const run = spawnSync(process.execPath, [client, String(declared), String(sent)], { encoding: 'utf8', timeout: 60_000 });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout) as { received: number; error?: string };
}

describe('an answer whose connection ends while its reader lags', () => {
  it('is received whole', () => {
    expect(download(MiB, MiB)).toEqual({ received: MiB });
  });

  it('without a Content-Length, ends with the connection, whole', () => {
    expect(download(-1, MiB)).toEqual({ received: MiB });
  });

  it('cut short of its Content-Length fails, never completes', () => {
    const result = download(MiB, MiB - 50_000);
    expect(result.error).toBe('UND_ERR_RES_CONTENT_LENGTH_MISMATCH');
    expect(result.received).toBeLessThanOrEqual(MiB - 50_000);
  });
});

describe('the patch of undici', () => {
  it('fails the build when the text it replaces has changed', () => {
    expect(() => patchedClientH1('class Parser {\n  finish () {\n    return null\n  }\n}\n')).toThrow(/issue #5360/);
  });
});

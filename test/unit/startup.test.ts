import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../../scripts/bundle.js';

// The bundle as the package ships it (scripts/bundle.ts), built here into a directory of its own:
// the test needs no `npm run build` beforehand.
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'datalake-startup-'));
  await bundle(dir);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Node's built-in modules a fresh process has loaded once the bundled CLI module is imported. */
function builtinsLoadedByMain(): string[] {
  const main = pathToFileURL(join(dir, 'main.js')).href;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(main)}); console.log(JSON.stringify(process.moduleLoadList))`], { encoding: 'utf8' });
  expect(result.status).toBe(0);
  return (JSON.parse(result.stdout) as string[]).filter((entry) => entry.startsWith('NativeModule ')).map((entry) => entry.slice('NativeModule '.length));
}

describe('start-up (the bundled build, as `npm run build` makes it)', () => {
  it('loads neither child_process (commander asks for it at load) nor http, https or tls before a command needs them', () => {
    const loaded = builtinsLoadedByMain();
    expect(loaded).toContain('fs'); // the check itself sees built-in modules
    for (const name of ['child_process', 'http', 'https', 'tls']) expect([name, loaded.includes(name)]).toEqual([name, false]);
  });
});

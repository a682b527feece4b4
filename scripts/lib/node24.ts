/**
 * Node.js 24, the current LTS users install, for the suite's second leg: the binary comes from the
 * npm registry's `node` package (its install step fetches the platform's `node-<os>-<arch>` package,
 * which ships the executable), pinned, installed once into the user's cache like MinIO and the
 * Python tools, and reused.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDirectory } from './minio.js';

export const NODE24_VERSION = '24.21.0';

export function node24Binary(): string {
  return join(cacheDirectory(), `node-${NODE24_VERSION}`, 'node_modules', 'node', 'bin', 'node');
}

function installedVersion(binary: string): string | undefined {
  if (!existsSync(binary)) return undefined;
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/** Installs `node@NODE24_VERSION` into the cache unless it is there and runs; the binary's path. */
export function installNode24(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): string {
  const binary = node24Binary();
  if (installedVersion(binary) === `v${NODE24_VERSION}`) return binary;
  const directory = join(cacheDirectory(), `node-${NODE24_VERSION}`);
  mkdirSync(directory, { recursive: true });
  log(`installing Node.js ${NODE24_VERSION} (npm package node@${NODE24_VERSION}) into ${directory}…`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['install', '--prefix', directory, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `node@${NODE24_VERSION}`], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.error || result.status !== 0) throw new Error(`npm install node@${NODE24_VERSION} failed (${result.error?.message ?? `exit ${result.status}`})`);
  const version = installedVersion(binary);
  if (version !== `v${NODE24_VERSION}`) throw new Error(`node@${NODE24_VERSION} installed, but ${binary} does not run as v${NODE24_VERSION} (got ${version ?? 'nothing'}): its install step fetches the binary`);
  return binary;
}

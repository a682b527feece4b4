/**
 * Python tools the tests use as independent peers: delta-rs (`deltalake`) to read a synced Delta
 * table back from the bucket, and moto's S3 server as a second S3 implementation. Installed, pinned,
 * into a virtual environment in the user's cache, once.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDirectory } from './minio.js';

export const PYTHON_REQUIREMENTS = ['deltalake==1.6.6'];

export function pythonToolsDirectory(): string {
  const tag = createHash('sha256').update(PYTHON_REQUIREMENTS.join('\n')).digest('hex').slice(0, 12);
  return join(cacheDirectory(), `python-${tag}`);
}

export function pythonToolsInterpreter(): string {
  return join(pythonToolsDirectory(), 'bin', 'python');
}

export function installPythonTools(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): string {
  const python = pythonToolsInterpreter();
  const marker = join(pythonToolsDirectory(), '.installed');
  if (existsSync(marker)) return python;
  log(`installing Python test tools (${PYTHON_REQUIREMENTS.join(', ')}) into ${pythonToolsDirectory()}…`);
  const run = (command: string, args: string[]) => {
    const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.error || result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`})`);
  };
  run(process.env.PYTHON ?? 'python3', ['-m', 'venv', pythonToolsDirectory()]);
  run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...PYTHON_REQUIREMENTS]);
  spawnSync('touch', [marker]);
  return python;
}

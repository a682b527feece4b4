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

export const PYTHON_REQUIREMENTS = ['deltalake==1.6.6', 'moto[server]==5.2.5'];

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

export interface RunningMoto {
  endpoint: string;
  stop(): Promise<void>;
}

/** moto's S3 server on a loopback port: the second S3 implementation, for what MinIO does not implement. */
export async function startMoto(port: number): Promise<RunningMoto> {
  const { spawn } = await import('node:child_process');
  const server = join(pythonToolsDirectory(), 'bin', 'moto_server');
  const child = spawn(server, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore', env: { ...process.env, MOTO_ALLOW_NONEXISTENT_REGION: 'true' } });
  let exited = false;
  child.on('exit', () => (exited = true));
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error('moto_server exited before answering');
    try {
      const response = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) });
      if (response.status < 500) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('moto_server did not answer within 30 s');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    endpoint,
    async stop() {
      if (exited) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    },
  };
}

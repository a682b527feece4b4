/**
 * Python tools the tests use as independent peers: delta-rs (`deltalake`) to read a synced Delta
 * table back from the bucket, and moto's S3 server as another S3 implementation — at the pinned
 * version, and at 5.2.1, whose answers differ (its CompleteMultipartUpload answer has another root
 * element); and the AWS CLI v1, whose uploads must download verified. Each set is installed, pinned,
 * into a virtual environment of its own in the user's cache, once.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDirectory } from './minio.js';

export const PYTHON_REQUIREMENTS = ['deltalake==1.6.6', 'moto[server]==5.2.5'];
/** The older moto the suite also runs against; alone in its environment. */
export const OLDER_MOTO_REQUIREMENTS = ['moto[server]==5.2.1'];
/**
 * The AWS CLI whose uploads the suite downloads (with and without its default CRC32 checksums): v1,
 * pinned, alone in its environment (Debian's v2.9 predates the default checksums).
 */
export const AWS_CLI_REQUIREMENTS = ['awscli==1.45.11'];

/** The pinned AWS CLI's `aws` (installed by the pretest step). */
export function pinnedAwsCli(): string {
  return join(pythonToolsDirectory(AWS_CLI_REQUIREMENTS), 'bin', 'aws');
}

export function pythonToolsDirectory(requirements: string[] = PYTHON_REQUIREMENTS): string {
  const tag = createHash('sha256').update(requirements.join('\n')).digest('hex').slice(0, 12);
  return join(cacheDirectory(), `python-${tag}`);
}

export function pythonToolsInterpreter(requirements: string[] = PYTHON_REQUIREMENTS): string {
  return join(pythonToolsDirectory(requirements), 'bin', 'python');
}

/** Installs the three environments (each skipped when already there). */
export function installPythonTools(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): string {
  installEnvironment(OLDER_MOTO_REQUIREMENTS, log);
  installEnvironment(AWS_CLI_REQUIREMENTS, log);
  return installEnvironment(PYTHON_REQUIREMENTS, log);
}

function installEnvironment(requirements: string[], log: (line: string) => void): string {
  const directory = pythonToolsDirectory(requirements);
  const python = pythonToolsInterpreter(requirements);
  const marker = join(directory, '.installed');
  if (existsSync(marker)) return python;
  log(`installing Python test tools (${requirements.join(', ')}) into ${directory}…`);
  const run = (command: string, args: string[]) => {
    const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.error || result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`})`);
  };
  run(process.env.PYTHON ?? 'python3', ['-m', 'venv', directory]);
  run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...requirements]);
  spawnSync('touch', [marker]);
  return python;
}

export interface RunningMoto {
  endpoint: string;
  stop(): Promise<void>;
}

/** moto's S3 server on a loopback port, from the environment of the given requirements (the pinned one by default). */
export async function startMoto(port: number, requirements: string[] = PYTHON_REQUIREMENTS): Promise<RunningMoto> {
  const server = join(pythonToolsDirectory(requirements), 'bin', 'moto_server');
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

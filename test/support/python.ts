import { spawn, spawnSync } from 'node:child_process';
import { pythonToolsInterpreter } from '../../scripts/lib/python-tools.js';

/** Runs a Python snippet in the test tools' environment (installed by `npm test`'s pretest step). */
export function runPython(code: string, env: NodeJS.ProcessEnv = {}): string {
  const result = spawnSync(pythonToolsInterpreter(), ['-c', code], { env: { ...process.env, ...env }, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`python failed: ${result.stderr || result.error?.message}`);
  return result.stdout;
}

/**
 * The same, without blocking this process: for a snippet that talks to a server this process runs
 * (a fault proxy), which a synchronous run would leave unanswered.
 */
export function runPythonAsync(code: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(pythonToolsInterpreter(), ['-c', code], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`python failed: ${stderr}`))));
  });
}

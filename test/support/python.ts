import { spawnSync } from 'node:child_process';
import { pythonToolsInterpreter } from '../../scripts/lib/python-tools.js';

/** Runs a Python snippet in the test tools' environment (installed by `npm test`'s pretest step). */
export function runPython(code: string, env: NodeJS.ProcessEnv = {}): string {
  const result = spawnSync(pythonToolsInterpreter(), ['-c', code], { env: { ...process.env, ...env }, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`python failed: ${result.stderr || result.error?.message}`);
  return result.stdout;
}

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface BenchResults {
  mode: string;
  scenarios: Record<string, { unit: string; tools: Record<string, { medianSeconds: number; peakRssMiB: number; timeRatioToDatalake: number }> }>;
}

describe('npm run bench -- --smoke', () => {
  it('runs every scenario end to end on tiny data and writes its results', () => {
    const result = spawnSync(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(root, 'bench', 'run.ts'), '--smoke'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      maxBuffer: 1 << 26,
    });
    expect(result.status, result.stderr.slice(-2000)).toBe(0);
    const results = JSON.parse(readFileSync(join(root, 'bench', 'results-smoke.json'), 'utf8')) as BenchResults;
    expect(results.mode).toBe('smoke');
    const names = Object.keys(results.scenarios);
    expect(names).toHaveLength(8);
    for (const name of names) {
      const datalake = results.scenarios[name]!.tools.datalake!;
      expect(datalake.medianSeconds).toBeGreaterThan(0);
      expect(datalake.peakRssMiB).toBeGreaterThan(10);
      expect(datalake.timeRatioToDatalake).toBe(1);
    }
    expect(readFileSync(join(root, 'bench', 'results-smoke.md'), 'utf8')).toMatch(/^\| upload 20 × 16 KiB \| .* MiB/m);
  }, 600_000);
});

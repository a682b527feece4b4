import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { usageError } from '../errors.js';

/**
 * Parses a `.env` file: `KEY=value`, optional `export `, `#` comments, single or double quotes.
 * A line that is none of these is an error naming the line, rather than a setting silently lost.
 */
export function parseDotenv(text: string, fileName = '.env'): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) {
      throw usageError(`${fileName} line ${index + 1}: expected KEY=value`, 'fix or remove that line');
    }
    const key = match[1] as string;
    let value = (match[2] ?? '').trim();
    const quote = value[0];
    if (quote === '"' || quote === "'") {
      const end = value.lastIndexOf(quote);
      if (end === 0) throw usageError(`${fileName} line ${index + 1}: unterminated quote`);
      value = value.slice(1, end);
      if (quote === '"') value = value.replace(/\\n/g, '\n').replace(/\\"/g, '"');
    } else {
      value = value.replace(/\s+#.*$/, '');
    }
    values[key] = value;
  });
  return values;
}

/** Reads `.env` from a directory; a missing file is no settings at all. */
export function readDotenv(directory: string): Record<string, string> {
  const path = join(directory, '.env');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw usageError(`cannot read ${path}: ${(error as Error).message}`);
  }
  return parseDotenv(text, '.env');
}

/**
 * Fills the environment from `.env` without overriding anything already set, so that the SDK's own
 * credential chain (which reads `process.env`) sees `.env` credentials too.
 */
export function applyDotenv(env: NodeJS.ProcessEnv, values: Record<string, string>): void {
  for (const [key, value] of Object.entries(values)) {
    if (env[key] === undefined) env[key] = value;
  }
}

import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** `$DATALAKE_CACHE_DIR`, else `$XDG_CACHE_HOME/datalake`, else `~/.cache/datalake`. */
export function cacheDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return env.DATALAKE_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'datalake');
}

/** `$DATALAKE_STATE_DIR`, else `$XDG_STATE_HOME/datalake`, else `~/.local/state/datalake`. */
export function stateDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return env.DATALAKE_STATE_DIR ?? join(env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'datalake');
}

/** A short stable file name for any text (a root path, a source and destination pair). */
export function fileNameFor(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

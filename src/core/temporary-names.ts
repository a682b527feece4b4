import { basename, dirname, join } from 'node:path';

/**
 * The one naming rule for a download in progress: a hidden file beside the target, and its record of
 * ranges written (`….json`, rewritten through `….json.new`). Walks of a local tree leave these out,
 * so a sync never uploads another download's partial file, nor deletes one as a stray.
 */
const SUFFIX = '.datalake-part';
const TEMPORARY_NAME = new RegExp(`^\\..+${SUFFIX.replace('.', '\\.')}(\\.json(\\.new)?)?$`);

export function temporaryDownloadPath(target: string): string {
  return join(dirname(target), `.${basename(target)}${SUFFIX}`);
}

export function isTemporaryDownloadName(name: string): boolean {
  return TEMPORARY_NAME.test(name);
}

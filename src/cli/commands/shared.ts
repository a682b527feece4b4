import type { Command } from 'commander';
import { buildNameFilter, type FilterRule } from '../../core/sync/filters.js';
import { isAbsolute } from 'node:path';
import { describeError, usageError } from '../../core/errors.js';
import { jsonErrorCode } from '../../core/s3/explain-error.js';
import { recordFailure } from '../../core/transfer/item-failure.js';
import type { Runtime } from '../runtime.js';
import type { FailedItem } from '../summary.js';

/** Repeatable flags (`--meta a=1 --meta b=2`) collect into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export type { FailedItem } from '../summary.js';

/** What proves a server-side copy, in the order copy-proof.ts takes it (proveCopy, else readBack): said once for cp and mv. */
export const COPY_PROOFS =
  "its ETag, where both ETags are MD5s, and any full-object checksum both carry must be the source's; else it is read back and hashed against the source's full-object CRC32, stored MD5 or ETag";

/** What proves a download, in the order checksums.ts's contentProofOf takes it: said once for get, cat and verify. */
export const DOWNLOAD_PROOFS =
  'its full-object CRC32, else its composite CRC32 (part by part), else the same two for CRC32C, else its stored MD5 (md5chksum), else a plain-MD5 ETag, else the multipart ETag recomputed part by part';

/**
 * Runs one item of a many-object command. A failure is recorded and the run goes on, except a
 * failure every other item would meet too (bad credentials, no bucket, no endpoint): that one ends
 * the run at once, as one line (core/transfer/item-failure.ts decides, for sync too) — after naming
 * the item if the failure left it changed (a move's source kept beside its proven copy).
 */
export async function attempt<T>(
  runtime: Runtime,
  failed: FailedItem[],
  /** The item as `failed` names it, and the bucket it goes to or comes from (its errors name that one, not the configured one). */
  { bucket, ...where }: { key?: string; path?: string; bucket: string },
  work: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await work();
  } catch (error) {
    recordFailure(error, { stopping: runtime.ctx.stopping, bucket, endpoint: runtime.settings.endpoint, limiter: runtime.ctx.limiter }, (explained) => {
      const item = { ...where, error: describeError(explained), code: jsonErrorCode(explained) };
      failed.push(item);
      runtime.out.failed(where.path ?? where.key ?? '?', item.error, { bucket, ...where, code: item.code });
    });
    return undefined;
  }
}

/**
 * `--exclude/--include GLOB`, repeatable, with sync's rules (src/core/sync/filters.ts): every name is
 * included unless a rule matches, and the last matching rule in command-line order decides. The rules
 * are collected into `rules` in that order.
 */
export function addFilterOptions(command: Command, rules: FilterRule[], what = 'names under the prefix'): Command {
  command.on('option:exclude', (pattern: string) => rules.push({ kind: 'exclude', pattern }));
  command.on('option:include', (pattern: string) => rules.push({ kind: 'include', pattern }));
  return command
    .option('--exclude <glob>', `leave out matching ${what} (repeatable; the last matching rule wins)`, collect)
    .option('--include <glob>', 'take matching names back in after an --exclude (repeatable)', collect);
}

/** What addLayoutOptions and addStorageOptions (or cp's own versions of them) give a command. */
export interface LayoutAndStorageFlags {
  zone?: string;
  dataset?: string;
  date?: string;
  meta?: string[];
  tag?: string[];
  contentType?: string;
  storageClass?: string;
  sse?: string;
  sseKmsKeyId?: string;
  md5Metadata?: boolean;
}

/** `--zone/--dataset/--date`: where the lake layout puts uploads. */
export function addLayoutOptions(command: Command): Command {
  return command
    .option('--zone <zone>', 'lake zone for the layout: raw, processed or analytics')
    .option('--dataset <name>', 'dataset name for the layout')
    .option('--date <yyyy-mm-dd>', 'partition date for the layout (default: today, UTC)');
}

/** How uploaded objects are stored: metadata, tags, content type, storage class, encryption. */
export function addStorageOptions(command: Command): Command {
  return command
    .option('--meta <name=value>', 'user metadata on uploaded objects (repeatable)', collect)
    .option('--tag <name=value>', 'object tag on uploaded objects (repeatable)', collect)
    .option('--content-type <type>', 'Content-Type (default: guessed from the file extension)')
    .option('--storage-class <class>', 'storage class, e.g. STANDARD_IA, INTELLIGENT_TIERING')
    .option('--sse <mode>', 'server-side encryption: AES256 or aws:kms')
    .option('--sse-kms-key-id <id>', 'KMS key for --sse aws:kms')
    .option('--md5-metadata', "also store the whole-content MD5 (md5chksum, rclone's) on multipart uploads: the file is read twice (env DATALAKE_MD5_METADATA=1)");
}

/**
 * The --exclude/--include filter of a prefix command, counting the names it was asked about: rules
 * that leave out every object listed are not an error (exit 0, with a line saying so), where a
 * prefix with no objects at all is (a misspelt prefix must not pass as done).
 */
export function countingNameFilter(rules: readonly FilterRule[]): { include: (name: string) => boolean; readonly considered: number; matchedNothing(kept: number): boolean } {
  const keep = buildNameFilter(rules);
  let considered = 0;
  return {
    include(name: string) {
      considered += 1;
      return keep(name);
    },
    get considered() {
      return considered;
    },
    matchedNothing: (kept: number) => rules.length > 0 && considered > 0 && kept === 0,
  };
}

export const RULES_MATCHED_NOTHING = 'the --exclude/--include rules left out every object under';

/**
 * A local path from the command line (undefined: the current folder), refused (exit 2) where Node
 * cannot name it exactly. Node decodes arguments and the current folder's path as UTF-8: a byte that
 * is not UTF-8 arrives as U+FFFD, a name no file has, so a sync would walk a folder that is not there
 * and read it as empty (then `--delete` the remote side), and a download would write beside the folder
 * meant. A real U+FFFD in a name cannot be told from that, and is refused as well.
 */
export function refuseLossyLocalPath(text: string | undefined): void {
  if (text !== undefined && text !== '-' && text.includes('\ufffd')) {
    throw usageError(`the local path '${text}' is not valid UTF-8 (or holds U+FFFD), so datalake cannot name it exactly`, 'rename it, or give another path');
  }
  if ((text === undefined || (text !== '-' && !isAbsolute(text))) && process.cwd().includes('\ufffd')) {
    throw usageError(`the current folder's path '${process.cwd()}' is not valid UTF-8 (or holds U+FFFD), so datalake cannot name files under it exactly`, 'run datalake from another folder, or give absolute paths');
  }
}

/**
 * What a sync run is asked (SyncPlan), what it tells of each name (SyncAction) and of the whole
 * (SyncReport), and which side of a name the march paired is the local one.
 */
import type { ObjectRef } from '../config/address.js';
import { localPathFor } from '../transfer/get-plan.js';
import type { LocalFile } from '../transfer/local-tree.js';
import type { PutOptions } from '../transfer/put-options.js';
import type { Reason, RemoteFile } from './compare.js';
import type { Shard } from './filters.js';
import type { MarchStep } from './march.js';

export type SyncDirection = 'upload' | 'download';

export interface SyncPlan {
  direction: SyncDirection;
  localRoot: string;
  /** The remote prefix: empty or ending in `/`. */
  remote: ObjectRef;
  deleteExtraneous: boolean;
  maxDelete: number | undefined;
  dryRun: boolean;
  sizeOnly: boolean;
  followSymlinks: boolean;
  includeName: (name: string) => boolean;
  shard: Shard | undefined;
  putOptions: Omit<PutOptions, 'contentType'> & { contentType?: string | undefined };
  hashCachePath: string;
}

/** One line of the plan: what was (or, with --dry-run, would be) done to one name, and why. */
export interface SyncAction {
  action: 'upload' | 'download' | 'skip' | 'delete';
  name: string;
  reason: Reason;
  key: string;
  path: string;
  size: number;
  status: 'done' | 'planned' | 'failed';
  error?: string;
}

export interface SyncReport {
  transferred: number;
  skipped: number;
  deleted: number;
  failed: number;
  bytes: number;
  dryRun: boolean;
  symlinksSkipped: number;
  errors: Array<{ name: string; error: string }>;
}

/** A run's report before anything happened: the caller holds it, so what completed is known even when the run throws. */
export function emptySyncReport(dryRun: boolean): SyncReport {
  return { transferred: 0, skipped: 0, deleted: 0, failed: 0, bytes: 0, dryRun, symlinksSkipped: 0, errors: [] };
}

/** One name as the march paired it: its source side, its destination side, or both. */
export type Step = MarchStep<LocalFile | RemoteFile, LocalFile | RemoteFile>;

export function localSide(plan: SyncPlan, step: Step): LocalFile | undefined {
  return (plan.direction === 'upload' ? step.source : step.destination) as LocalFile | undefined;
}

export function remoteSide(plan: SyncPlan, step: Step): RemoteFile | undefined {
  return (plan.direction === 'upload' ? step.destination : step.source) as RemoteFile | undefined;
}

export function safeLocalPath(plan: SyncPlan, name: string): string | undefined {
  try {
    return localPathFor(plan.localRoot, '', name);
  } catch {
    return undefined;
  }
}

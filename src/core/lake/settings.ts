/**
 * One setting of a bucket (encryption, versioning, public access, a lifecycle feature): read, compared
 * with what it should be, written only when it differs, and reported; an endpoint that does not
 * implement it has it reported `unsupported`, and the setup goes on.
 */
import { errorCodeOf, httpStatusOf } from '../s3/retry.js';

export type SettingState = 'created' | 'updated' | 'unchanged' | 'unsupported';

export interface SettingReport {
  name: string;
  state: SettingState;
  detail?: string;
}

/** One SDK command under the retry policy; typed loosely because each setting speaks its own command. */
export type Send = <T>(name: string, command: object) => Promise<T>;

export interface SettingPlan {
  existed: boolean;
  same: boolean;
  write: () => Promise<unknown>;
  detail: string;
}

const UNSUPPORTED_CODES = new Set(['NotImplemented', 'XNotImplemented', 'NotSupported', 'MethodNotAllowed']);

export function isUnsupported(error: unknown): boolean {
  const code = errorCodeOf(error);
  return (code !== undefined && UNSUPPORTED_CODES.has(code)) || httpStatusOf(error) === 501;
}

export async function applySetting(setup: { dryRun: boolean }, name: string, plan: () => Promise<SettingPlan>): Promise<SettingReport> {
  try {
    const { existed, same, write, detail } = await plan();
    if (same) return { name, state: 'unchanged', detail };
    if (!setup.dryRun) await write();
    return { name, state: existed ? 'updated' : 'created', detail };
  } catch (error) {
    if (isUnsupported(error)) return { name, state: 'unsupported', detail: `${errorCodeOf(error) ?? 'not implemented'} by this endpoint` };
    throw error;
  }
}

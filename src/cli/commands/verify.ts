import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { formatS3Url, parseObjectAddress, type ObjectRef } from '../../core/config/address.js';
import { usageError } from '../../core/errors.js';
import { failIfAny, type FirstFailure } from '../exit-codes.js';
import type { Verified } from '../../core/sync/verify.js';
import { interruption } from '../interrupt.js';
import { openRuntime, resolveGlobals } from '../runtime.js';
import { DOWNLOAD_PROOFS, RULES_MATCHED_NOTHING, addFilterOptions, countingNameFilter, refuseLossyLocalPath } from './shared.js';
import type { FilterRule } from '../../core/sync/filters.js';
import type { FailedWhere } from '../output.js';

export function registerVerify(program: Command): void {
  const rules: FilterRule[] = [];
  addFilterOptions(program.command('verify'), rules, 'names under the prefix (and under --local)')
    .summary('prove objects intact, against local files or their own checksums')
    .description(
      'Against local files when --local is given (a prefix against a directory reports missing and extra files too), ' +
        `else by downloading each object and checking it against ${DOWNLOAD_PROOFS}. ` +
        'Multipart objects included. Exit 1 on any mismatch.',
    )
    .argument('<source>', 's3://bucket/key, or a prefix (ending in /, or with --recursive)')
    .option('--local <path>', 'the local file (or, for a prefix, directory) to compare with')
    .option('-r, --recursive', 'verify every object under the prefix')
    .addHelpText(
      'after',
      `
Examples:
  datalake verify s3://lake/raw/reddit/events.csv --local events.csv
  datalake verify s3://lake/raw/exports/ --local ./exports
  datalake verify s3://lake/processed/ --recursive --json
  datalake verify s3://lake/raw/exports/ --local ./exports --exclude '*.tmp'`,
    )
    .action(async (source: string, flags: { local?: string; recursive?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals();
      const { settings, out } = await resolveGlobals(globals);
      if (flags.local !== undefined) refuseLossyLocalPath(flags.local);
      const parsed = parseObjectAddress(source, settings.bucket, { allowPrefix: true });
      const isPrefix = flags.recursive === true || parsed.key === '' || parsed.key.endsWith('/');
      if (rules.length > 0 && !isPrefix) throw usageError('--exclude and --include go with a prefix (--recursive)');
      const filter = countingNameFilter(rules);
      const includeName = filter.include;
      const localInfo = flags.local === undefined ? undefined : await stat(flags.local).catch(() => undefined);
      if (flags.local !== undefined && !localInfo && !isPrefix) throw usageError(`no such file '${flags.local}'`);
      if (isPrefix && localInfo && !localInfo.isDirectory()) throw usageError(`'${flags.local}' is not a directory; a prefix is verified against a directory`);

      const runtime = await openRuntime(globals, interruption, { settings, out });
      const [{ verifyAgainstFile, verifyRemote }, { forEachWindowed }] = await Promise.all([import('../../core/sync/verify.js'), import('../../core/s3/limiter.js')]);
      const mismatched: Array<{ key: string; path?: string; reason: string }> = [];
      const unverifiable: Array<{ key: string; path?: string; reason: string }> = [];
      const objects: Array<{ key: string; proof: string }> = [];
      const missing: string[] = [];
      const extra: string[] = [];
      let checked = 0;
      // The first problem named, for the `error` of the --json document.
      let firstProblem: FirstFailure | undefined;
      const problem = (name: string, reason: string, where: FailedWhere = {}) => {
        firstProblem ??= { name, reason, code: where.code };
        out.failed(name, reason, where);
      };
      const document = () => ({ ok: false, checked, mismatched, unverifiable, missing, extra, objects });
      out.reportPartial(document);
      const report = (outcome: Verified, ref: ObjectRef) => {
        checked += 1;
        objects.push({ key: ref.key, proof: outcome.proof });
        if (outcome.mismatch) {
          mismatched.push(outcome.mismatch);
          problem(formatS3Url(ref), outcome.mismatch.reason, { ...ref, path: outcome.mismatch.path });
        } else if (outcome.unverifiable) {
          unverifiable.push(outcome.unverifiable);
          problem(formatS3Url(ref), `unverifiable: ${outcome.unverifiable.reason}`, { ...ref, path: outcome.unverifiable.path });
        } else out.line(`ok ${formatS3Url(ref)}  (${outcome.proof})`);
      };
      try {
        if (!isPrefix) {
          const path = flags.local === undefined ? undefined : localInfo?.isDirectory() ? join(flags.local, basename(parsed.key)) : flags.local;
          report(path === undefined ? await verifyRemote(runtime.ctx, parsed) : await verifyAgainstFile(runtime.ctx, parsed, path), parsed);
        } else {
          const prefix = { bucket: parsed.bucket, key: parsed.key === '' || parsed.key.endsWith('/') ? parsed.key : `${parsed.key}/` };
          const [{ listObjects }, { walkLocalTree }, { march }] = await Promise.all([
            import('../../core/s3/list.js'),
            import('../../core/transfer/local-tree.js'),
            import('../../core/sync/march.js'),
          ]);
          const remote = (async function* () {
            for await (const entry of listObjects(runtime.ctx, prefix, { recursive: true })) {
              const name = entry.kind === 'object' ? entry.object.key.slice(prefix.key.length) : '';
              if (entry.kind === 'object' && !entry.object.key.endsWith('/') && includeName(name)) yield { name, key: entry.object.key };
            }
          })();
          const local = flags.local === undefined || !localInfo ? (async function* () {})() : filtered(walkLocalTree(flags.local, { followSymlinks: false }), includeName);
          await forEachWindowed(
            march(remote, local),
            runtime.settings.concurrency * 2,
            async (step) => {
              const ref = { bucket: prefix.bucket, key: step.source?.key ?? `${prefix.key}${step.name}` };
              if (flags.local !== undefined && !step.destination) {
                missing.push(ref.key);
                problem(formatS3Url(ref), `missing locally under ${flags.local}`, ref);
                return;
              }
              if (!step.source) {
                extra.push(step.destination!.path);
                problem(step.destination!.path, `not in ${formatS3Url(prefix)}`, { path: step.destination!.path });
                return;
              }
              report(step.destination ? await verifyAgainstFile(runtime.ctx, ref, step.destination.path) : await verifyRemote(runtime.ctx, ref), ref);
            },
            runtime.ctx.stopping,
          );
        }
      } finally {
        runtime.close();
      }
      if (runtime.ctx.stopping?.aborted) throw runtime.ctx.stopping.reason;
      // A prefix with nothing under it proves nothing: a misspelt prefix must not pass as intact.
      const nothingChecked = isPrefix && checked === 0 && missing.length === 0 && extra.length === 0;
      const excludedAll = nothingChecked && filter.matchedNothing(0);
      const empty = nothingChecked && !excludedAll;
      if (excludedAll) out.line(`${RULES_MATCHED_NOTHING} ${source}: nothing to verify`);
      if (empty) problem(source, 'no objects under this prefix: nothing was verified', { bucket: parsed.bucket, key: parsed.key, code: 'NoObjects' });
      const ok = !empty && mismatched.length === 0 && unverifiable.length === 0 && missing.length === 0 && extra.length === 0;
      out.line(ok ? `verified ${checked} object${checked === 1 ? '' : 's'}: all intact` : `verified ${checked}: ${mismatched.length} mismatched, ${unverifiable.length} unverifiable, ${missing.length} missing, ${extra.length} extra`);
      out.json({ ...document(), ok });
      const problems = mismatched.length + unverifiable.length + missing.length + extra.length + (empty ? 1 : 0);
      failIfAny(problems, firstProblem);
    });
}

async function* filtered<T extends { name: string }>(entries: AsyncIterable<T>, keep: (name: string) => boolean): AsyncGenerator<T> {
  for await (const entry of entries) if (keep(entry.name)) yield entry;
}

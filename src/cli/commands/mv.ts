import type { Command } from 'commander';
import type { FilterRule } from '../../core/sync/filters.js';
import { addCopyOptions, runCopies, type CopyFlags } from './cp.js';
import { COPY_PROOFS } from './shared.js';

export function registerMv(program: Command): void {
  const rules: FilterRule[] = [];
  const command = program.command('mv');
  addCopyOptions(command, rules);
  command
    .summary('move objects between S3 locations: copy, prove, then delete the source')
    .description(
      'Copy an object (or with --recursive every object under a prefix) server-side as `datalake cp` does, prove the copy ' +
        `(${COPY_PROOFS}), and only then delete the source — ` +
        'never the other order. A copy that fails or does not prove keeps the source, and the command exits 1. On a ' +
        'versioned bucket the source\'s delete makes a delete marker, as aws s3 mv does.',
    )
    .addHelpText(
      'after',
      `
Examples:
  datalake mv s3://lake/raw/inbox/a.csv s3://lake/raw/done/a.csv
  datalake mv s3://lake/raw/x/ --recursive --zone processed --dataset x
  datalake mv s3://lake/tmp/ s3://lake/archive/tmp/ -r --exclude '*.part' --json`,
    )
    .action(async (source: string, destination: string | undefined, flags: CopyFlags, cmd: Command) => {
      await runCopies('mv', source, destination, flags, rules, cmd);
    });
}

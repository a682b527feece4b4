import type { Command } from 'commander';
import { formatS3Url, parseObjectAddress } from '../../core/config/address.js';
import { usageError } from '../../core/errors.js';
import { errorCodeOf } from '../../core/s3/retry.js';
import { interruption } from '../interrupt.js';
import { openRuntime, resolveGlobals } from '../runtime.js';
import { DOWNLOAD_PROOFS } from './shared.js';

export function registerCat(program: Command): void {
  program
    .command('cat')
    .summary('stream an object to standard output, verified')
    .description(
      'Write an object to standard output in order, as `datalake get OBJECT -` does, and check it at the end against ' +
        `${DOWNLOAD_PROOFS}. Bytes already written to a pipe cannot be taken back: on a mismatch ` +
        'the command says how many went out, and exits 1.',
    )
    .argument('<object>', 's3://bucket/key, or a key in --bucket')
    .addHelpText(
      'after',
      `
Examples:
  datalake cat s3://lake/analytics/daily/report.csv | head
  datalake cat raw/reddit/year=2024/month=01/day=15/events.jsonl | jq .id
  set -o pipefail   # then a failing cat fails the pipeline
  datalake cat s3://lake/raw/dump.sql.gz | gunzip | psql mydb && echo verified`,
    )
    .action(async (source: string, _flags: unknown, command: Command) => {
      interruption.stdoutIsTheOutput = true;
      const globals = command.optsWithGlobals();
      if (globals.json) throw usageError('cat writes the object itself to standard output: there is no room for --json', 'use `datalake stat --json` for what the object carries');
      const { settings, out } = await resolveGlobals(globals);
      const ref = parseObjectAddress(source, settings.bucket, { localPathHint: 'cat reads S3 objects: write s3://bucket/key' });
      const engine = import('../../core/transfer/download.js');
      const runtime = await openRuntime({ ...globals, progress: false }, interruption, { settings, out });
      const { downloadToStream } = await engine;
      try {
        // The same verified stream as `get OBJECT -`: a mismatch found at the end says the bytes already went out.
        const written = await downloadToStream(runtime.ctx, ref, process.stdout);
        if (written.verifiedBy === 'unverifiable') out.warn(`${formatS3Url(ref)}: no CRC32 or MD5 to check against (${written.etag ?? 'no ETag'}); size checked only`);
      } catch (error) {
        // Ctrl-C ended the pipe's reader too (`datalake cat … | gunzip`): the write it broke is the interrupt's doing.
        if (runtime.ctx.stopping?.aborted && errorCodeOf(error) === 'EPIPE') throw runtime.ctx.stopping.reason;
        throw error;
      } finally {
        runtime.close();
      }
      if (runtime.ctx.stopping?.aborted) throw runtime.ctx.stopping.reason;
    });
}

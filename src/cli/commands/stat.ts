import type { Command } from 'commander';
import { formatS3Url, parseObjectAddress } from '../../core/config/address.js';
import type { ObjectDetails } from '../../core/transfer/stat.js';
import { formatBytes } from '../../core/config/units.js';
import { usageError } from '../../core/errors.js';
import { httpStatusOf } from '../../core/s3/retry.js';
import { interruption } from '../interrupt.js';
import { openRuntime, resolveGlobals } from '../runtime.js';

export function registerStat(program: Command): void {
  program
    .command('stat')
    .summary("show one object's size, ETag, checksums, storage, metadata, tags, parts and version")
    .description(
      'Everything an object carries but its bytes: size, ETag, the stored MD5 (md5chksum) and the checksums S3 keeps ' +
        '(HEAD with x-amz-checksum-mode: ENABLED), storage class, encryption, content type and headers, user metadata, ' +
        'tags, the size of each part of a multipart object, and its version id.',
    )
    .argument('<object>', 's3://bucket/key, or a key in --bucket')
    .option('--version-id <id>', 'a given version instead of the current one')
    .addHelpText(
      'after',
      `
Examples:
  datalake stat s3://lake/raw/reddit/year=2024/month=01/day=15/events.csv
  datalake stat s3://lake/raw/big.parquet --json | jq '.parts.sizes'
  datalake stat raw/x/a.csv --version-id 3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY`,
    )
    .action(async (source: string, flags: { versionId?: string }, command: Command) => {
      interruption.stdoutIsTheOutput = true;
      const globals = command.optsWithGlobals();
      const { settings, out } = await resolveGlobals(globals);
      const ref = parseObjectAddress(source, settings.bucket);
      const engine = import('../../core/transfer/stat.js');
      const runtime = await openRuntime({ ...globals, progress: false }, interruption, { settings, out });
      const { statObject } = await engine;
      let details: ObjectDetails;
      try {
        details = await statObject(runtime.ctx, ref, flags.versionId).catch((error: unknown) => {
          // A HEAD's 400 has no body to explain it: with a version id asked for, that id is what was refused.
          if (flags.versionId !== undefined && httpStatusOf(error) === 400) {
            throw usageError(`invalid --version-id '${flags.versionId}' for ${formatS3Url(ref)}: the server refused it (HTTP 400)`, 'copy the id from `datalake stat --json` or the bucket\'s version listing');
          }
          throw error;
        });
      } finally {
        runtime.close();
      }
      for (const line of humanLines(details)) out.line(line);
      out.json(details);
    });
}

function humanLines(details: ObjectDetails): string[] {
  const pairs = (record: Record<string, string>) =>
    Object.keys(record).length === 0 ? '(none)' : Object.entries(record).map(([name, value]) => `${name}=${value}`).join(', ');
  const checksums = Object.entries(details.checksums).filter(([name]) => name !== 'type');
  const rows: Array<[string, string]> = [
    ['size', `${details.size} bytes (${formatBytes(details.size)})`],
    ['etag', details.etag ?? '(none)'],
    ['md5', details.md5 ?? '(none stored)'],
    ...(checksums.length === 0
      ? ([['checksums', '(none)']] as Array<[string, string]>)
      : checksums.map(([name, value]): [string, string] => [name, `${value}${details.checksums.type ? ` (${details.checksums.type})` : ''}`])),
    ['last modified', details.lastModified ?? '(unknown)'],
    ['content type', details.contentType ?? '(none)'],
    ...Object.entries(details.headers).map(([name, value]): [string, string] => [name, value]),
    ['storage class', details.storageClass],
    ['encryption', details.serverSideEncryption ? `${details.serverSideEncryption}${details.sseKmsKeyId ? ` (key ${details.sseKmsKeyId})` : ''}` : '(none)'],
    ['version', details.versionId ?? '(unversioned)'],
    ['metadata', pairs(details.metadata)],
    ['tags', details.tags === null ? '(not available from this server)' : pairs(details.tags)],
    ['parts', details.parts === null ? '1 (a single PUT)' : `${details.parts.count}: ${partRuns(details.parts.sizes)}`],
  ];
  // The label column fits the longest label (a header such as content-disposition), two spaces past it.
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  return [formatS3Url(details), ...rows.map(([name, value]) => `  ${name.padEnd(width)}${value}`)];
}

/** Part sizes as runs: `3 × 8.0 MiB, 1 × 2.5 MiB`. */
function partRuns(sizes: number[]): string {
  const runs: Array<{ size: number; count: number }> = [];
  for (const size of sizes) {
    const last = runs[runs.length - 1];
    if (last && last.size === size) last.count += 1;
    else runs.push({ size, count: 1 });
  }
  return runs.map((run) => `${run.count} × ${formatBytes(run.size)}`).join(', ');
}

import type { Command } from 'commander';
import { configuredBucketRoot, formatS3Url, parseObjectAddress } from '../../core/config/address.js';
import { formatBytes } from '../../core/config/units.js';
import { interruption } from '../interrupt.js';
import { jsonText } from '../output.js';
import { openRuntime, resolveGlobals } from '../runtime.js';

export function registerLs(program: Command): void {
  program
    .command('ls')
    .summary('list objects and prefixes')
    .description('List objects and common prefixes under a prefix, every page of them, with sizes, dates and a total. With no bucket configured and no argument, list the buckets.')
    .argument('[prefix]', 's3://bucket/prefix, or a prefix in --bucket (default: the whole bucket)')
    .option('-r, --recursive', 'list every object under the prefix, not just one level (full keys)')
    .option('--full-key', 'show full keys in the one-level listing too (names are relative to the listed folder, as aws s3 ls shows them)')
    .addHelpText(
      'after',
      `
Examples:
  datalake ls
  datalake ls s3://lake/raw/
  datalake ls s3://lake/raw/ --full-key
  datalake ls raw/reddit/ --recursive
  datalake ls s3://lake/analytics/ --json | jq '.objects[].key'`,
    )
    .action(async (prefixText: string | undefined, flags: { recursive?: boolean; fullKey?: boolean }, command: Command) => {
      interruption.stdoutIsTheOutput = true;
      const globals = command.optsWithGlobals();
      const { settings, out } = await resolveGlobals(globals);
      if (prefixText === undefined && settings.bucket === undefined) {
        await listBuckets(globals);
        return;
      }
      const where = prefixText === undefined ? configuredBucketRoot(settings.bucket) : parseObjectAddress(prefixText, settings.bucket, { allowPrefix: true });
      const engine = import('../../core/s3/list.js');
      const runtime = await openRuntime({ ...globals, progress: false }, interruption, { settings, out });
      const { listObjects } = await engine;
      const json = out.mode.json;
      const recursive = flags.recursive === true;
      // As `aws s3 ls`: one level shows names relative to the listed folder, --recursive full keys.
      const folder = where.key.slice(0, where.key.lastIndexOf('/') + 1);
      const shown = (key: string) => (recursive || flags.fullKey === true ? key : key.slice(folder.length));
      let count = 0;
      let bytes = 0;
      const prefixes: string[] = [];
      const closing = () => `],"prefixes":${jsonText(prefixes)},"count":${count},"bytes":${bytes}`;
      try {
        // The JSON document is streamed object by object, so a listing of millions stays small in memory;
        // a listing that fails midway still ends as one document, with the error inside.
        out.startBatch();
        out.beginJsonStream('{"objects":[', (error) => `${closing()},"error":${jsonText(error)}}\n`);
        for await (const entry of listObjects(runtime.ctx, where, { recursive })) {
          if (entry.kind === 'prefix') {
            prefixes.push(entry.prefix);
            out.line(`${''.padStart(19)} ${'PRE'.padStart(10)} ${shown(entry.prefix)}`);
            continue;
          }
          const { object } = entry;
          if (json) {
            out.write(
              `${count > 0 ? ',' : ''}${jsonText({ key: object.key, size: object.size, lastModified: object.lastModified?.toISOString() ?? null, etag: object.etag ?? null, storageClass: object.storageClass ?? null })}`,
            );
          }
          count += 1;
          bytes += object.size;
          out.line(`${formatDate(object.lastModified)} ${formatBytes(object.size).padStart(10)} ${shown(object.key)}`);
        }
        out.endJsonStream(`${closing()}}\n`);
      } finally {
        out.endBatch();
        runtime.close();
      }
      out.line(`Total: ${count} object${count === 1 ? '' : 's'}, ${formatBytes(bytes)}${prefixes.length ? `, ${prefixes.length} prefix${prefixes.length === 1 ? '' : 'es'}` : ''} in ${formatS3Url(where)}`);
    });
}

async function listBuckets(globals: Record<string, unknown>): Promise<void> {
  const { settings, out } = await resolveGlobals(globals);
  const runtime = await openRuntime({ ...globals, progress: false }, interruption, { settings, out });
  const [{ ListBucketsCommand }, { controlRequest }] = await Promise.all([import('../../core/s3/sdk.js').then(({ sdk }) => sdk()), import('../../core/s3/context.js')]);
  try {
    const output = await controlRequest(runtime.ctx, 'ListBuckets', () => runtime.ctx.client.send(new ListBucketsCommand({})));
    const buckets = (output.Buckets ?? []).map((bucket) => ({ name: bucket.Name ?? '', creationDate: bucket.CreationDate?.toISOString() ?? null }));
    for (const bucket of buckets) out.line(`${formatDate(bucket.creationDate ? new Date(bucket.creationDate) : undefined)} s3://${bucket.name}`);
    out.json({ buckets });
  } finally {
    runtime.close();
  }
}

function formatDate(date: Date | undefined): string {
  return date ? date.toISOString().slice(0, 19).replace('T', ' ') : ''.padStart(19);
}

import type { Command } from 'commander';
import { parseObjectAddress } from '../../core/config/address.js';
import { usageError } from '../../core/errors.js';
import { parseDuration, parseSize } from '../../core/config/units.js';
import { checkExpiry, curlCommand, DEFAULT_PRESIGN_EXPIRES, DEFAULT_PRESIGN_MAX_SIZE, type PresignedRequest } from '../../core/s3/presign-request.js';
import { interruption } from '../interrupt.js';
import { openRuntime, resolveGlobals } from '../runtime.js';

interface PresignFlags {
  method: string;
  expires: string;
  check: boolean;
  contentType?: string;
  maxSize?: string;
  keyPrefix?: string;
}

export function registerPresign(program: Command): void {
  program
    .command('presign')
    .summary('hand out a presigned GET, PUT or POST for an object')
    .description(
      'Print a presigned URL on stdout, alone: GET (default; the object must exist unless --no-check), PUT ' +
        '(optionally bound to --content-type), or POST (a form policy with --max-size as content-length-range, ' +
        'an optional content-type condition, and the key or --key-prefix). The expiry, the POST form fields and ' +
        'a ready curl line go to stderr; --json gives everything in one document.',
    )
    .argument('[object]', 's3://bucket/key or a key in --bucket (with --key-prefix, may be omitted)')
    .option('--method <method>', 'GET, PUT or POST', 'GET')
    .option('--expires <duration>', 'lifetime: 900, 15m, 1h, 7d (at most 7 days)', DEFAULT_PRESIGN_EXPIRES)
    .option('--no-check', 'GET: do not check that the object exists first')
    .option('--content-type <type>', 'PUT/POST: the Content-Type the upload must carry')
    .option('--max-size <size>', 'POST: the largest file accepted (content-length-range)', DEFAULT_PRESIGN_MAX_SIZE)
    .option('--key-prefix <prefix>', 'POST: accept any key under this prefix (the form picks ${filename})')
    .addHelpText(
      'after',
      `
Examples:
  datalake presign s3://lake/analytics/report.csv --expires 15m
  datalake presign s3://lake/raw/in.csv --method PUT --content-type text/csv
  datalake presign --method POST --bucket lake --key-prefix raw/dropbox/ \\
      --max-size 10MiB --expires 1d
  curl -fSL "$(datalake presign analytics/report.csv)" -o report.csv
  datalake presign analytics/report.csv --json | jq -r .expiresAt`,
    )
    .action(async (objectText: string | undefined, flags: PresignFlags, command: Command) => {
      interruption.stdoutIsTheOutput = true;
      const globals = command.optsWithGlobals();
      const { settings, out } = await resolveGlobals(globals);
      const method = flags.method.toUpperCase();
      if (method !== 'GET' && method !== 'PUT' && method !== 'POST') throw usageError(`invalid --method '${flags.method}'`, 'use GET, PUT or POST');
      const expiresIn = checkExpiry(parseDuration(flags.expires, '--expires'), flags.expires);
      if (method !== 'POST' && flags.keyPrefix !== undefined) throw usageError('--key-prefix goes with --method POST');
      if (method === 'GET' && flags.contentType !== undefined) throw usageError('--content-type goes with --method PUT or POST');
      const maxSize = parseSize(flags.maxSize ?? DEFAULT_PRESIGN_MAX_SIZE, '--max-size');
      if (maxSize < 1) throw usageError('--max-size must be at least 1 byte');

      let bucket: string;
      let key: string | undefined;
      if (method === 'POST' && flags.keyPrefix !== undefined) {
        if (objectText !== undefined) throw usageError('give either an object or --key-prefix, not both');
        const prefix = parseObjectAddress(flags.keyPrefix, settings.bucket, { allowPrefix: true, newKey: true });
        bucket = prefix.bucket;
        key = prefix.key;
      } else {
        if (objectText === undefined) throw usageError('name the object to presign', 'e.g. datalake presign s3://lake/raw/file.csv');
        // A PUT or POST makes the key: it takes no control characters, as put's do.
        const ref = parseObjectAddress(objectText, settings.bucket, { newKey: method !== 'GET' });
        bucket = ref.bucket;
        key = ref.key;
      }

      const runtime = await openRuntime({ ...globals, progress: false }, interruption, { settings, out });
      const { presignGet, presignPut, presignPost } = await import('../../core/s3/presign.js');
      let request: PresignedRequest;
      try {
        if (method === 'GET') request = await presignGet(runtime.ctx, { bucket, key }, expiresIn, flags.check);
        else if (method === 'PUT') request = await presignPut(runtime.ctx, { bucket, key }, expiresIn, flags.contentType);
        else
          request = await presignPost(runtime.ctx, flags.keyPrefix !== undefined ? { bucket, keyPrefix: key } : { bucket, key }, expiresIn, {
            maxSize,
            contentType: flags.contentType,
          });
      } finally {
        runtime.close();
      }
      if (out.mode.json) {
        out.json(request);
        return;
      }
      // stdout holds the URL alone, so `curl "$(datalake presign …)"` works; the rest goes to stderr.
      out.line(request.url);
      if (request.fields) for (const [name, value] of Object.entries(request.fields)) out.note(`  ${name}: ${value}`);
      out.note(`expires ${request.expiresAt}`);
      if (method !== 'GET') out.note(`# ${curlCommand(request)}`);
    });
}

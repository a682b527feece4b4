/**
 * S3's full-object CRC32 end to end: every object datalake writes carries it (single PUT and
 * multipart, computed as the bytes are sent), the server checks it, other clients read and validate
 * it, and downloads, verify and sync are proven by it — while objects other tools wrote, with or
 * without their own checksums, still download verified by what they do carry.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../support/fault-proxy.js';
import { crc32Base64, lastJson, runCli, s3Env, tempDirectory, writeRandomFile } from '../support/harness.js';
import { closeProxiedBucket, openProxiedBucket } from '../support/proxied-bucket.js';
import { runPython, runPythonAsync } from '../support/python.js';
import { pinnedAwsCli } from '../../scripts/lib/python-tools.js';

const MiB = 1024 ** 2;
/**
 * MinIO's code for a part whose bytes were damaged on the way: it checks the part's Content-MD5 before
 * its CRC32 (a part whose CRC32 alone is wrong is XAmzContentChecksumMismatch; the proxy cannot make
 * one, the header being signed).
 */
const REFUSED_PART_CODE = 'BadDigest';
/**
 * What each object another client uploaded carries (its checksum type, if any) and what its download
 * was proven by: boto3 and the AWS CLI send a CRC32 by default (when_supported), FULL_OBJECT on a
 * single PUT and COMPOSITE on a multipart upload (checked part by part); without it, the ETag.
 */
const BOTO3_PROOFS = {
  'with/big.bin': { stored: 'COMPOSITE', verifiedBy: 'crc32-composite' },
  'with/small.bin': { stored: 'FULL_OBJECT', verifiedBy: 'crc32' },
  'without/big.bin': { stored: undefined, verifiedBy: 'multipart-etag' },
  'without/small.bin': { stored: undefined, verifiedBy: 'etag' },
};
const AWS_CLI_PROOFS = BOTO3_PROOFS;
const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');
const work = tempDirectory('crc32');
let client: S3Client;
let bucket: string;
let proxy: FaultProxy;
let env: NodeJS.ProcessEnv;
let proxied: NodeJS.ProcessEnv;
let big: Buffer;
let small: Buffer;

type Objects = { objects: Array<{ crc32: string; md5?: string; etag: string; verifiedBy?: string }>; failed: Array<{ error: string }> };

const cli = (args: string[], through: NodeJS.ProcessEnv = env) => runCli([...args, '--json'], { env: through });

beforeAll(async () => {
  let endpoint: string;
  ({ client, bucket, proxy, endpoint } = await openProxiedBucket('crc32'));
  env = s3Env({ DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_PART_SIZE: '5MiB' });
  proxied = s3Env({ AWS_ENDPOINT_URL: endpoint, DATALAKE_STATE_DIR: join(work.path, 'state'), DATALAKE_PART_SIZE: '5MiB', DATALAKE_RETRIES: '3' });
  big = writeRandomFile(join(work.path, 'big.bin'), 17 * MiB + 5);
  small = writeRandomFile(join(work.path, 'small.bin'), 200_000);
});
afterAll(async () => {
  await closeProxiedBucket({ client, bucket, proxy });
  work.remove();
});

async function stored(key: string) {
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
  return { crc32: head.ChecksumCRC32, type: head.ChecksumType, md5chksum: head.Metadata?.md5chksum, etag: head.ETag };
}

function noLeftovers(directory: string): void {
  expect(existsSync(directory) ? readdirSync(directory) : []).toEqual([]);
}

/** A boto3 snippet with `client(**config)` pointed at `endpoint` (the test server unless told). */
function boto3Program(code: string, endpoint = inject('s3').endpoint): string {
  const s3 = inject('s3');
  return `
import boto3, botocore.config, json, sys
def client(**config):
    return boto3.client('s3', endpoint_url=${JSON.stringify(endpoint)}, aws_access_key_id=${JSON.stringify(s3.accessKeyId)},
        aws_secret_access_key=${JSON.stringify(s3.secretAccessKey)}, region_name=${JSON.stringify(s3.region)},
        config=botocore.config.Config(s3={'addressing_style': 'path'}, **config))
bucket = ${JSON.stringify(bucket)}
${code}`;
}

/** Runs a snippet with boto3 from the test tools' environment, pointed at the test server. */
function boto3(code: string): string {
  return runPython(boto3Program(code));
}

describe('every object datalake writes carries a full-object CRC32', () => {
  it('a single PUT: CRC32 and md5chksum stored, both in the JSON', async () => {
    const result = await cli(['put', join(work.path, 'small.bin'), `s3://${bucket}/up/small.bin`]);
    expect(result.code).toBe(0);
    expect(lastJson<Objects>(result).objects[0]).toMatchObject({ crc32: crc32Base64(small), md5: md5(small), etag: md5(small) });
    expect(await stored('up/small.bin')).toMatchObject({ crc32: crc32Base64(small), type: 'FULL_OBJECT', md5chksum: Buffer.from(md5(small), 'hex').toString('base64') });
  });

  it('a multipart upload: the combined CRC32 stored as FULL_OBJECT, no whole-content MD5 read ahead (no md5chksum)', async () => {
    const result = await cli(['put', join(work.path, 'big.bin'), `s3://${bucket}/up/big.bin`]);
    expect(result.code).toBe(0);
    const object = lastJson<Objects>(result).objects[0]!;
    expect(object).toMatchObject({ crc32: crc32Base64(big), etag: expect.stringMatching(/-4$/) });
    expect(object.md5).toBeUndefined();
    expect(await stored('up/big.bin')).toEqual({ crc32: crc32Base64(big), type: 'FULL_OBJECT', md5chksum: undefined, etag: `"${object.etag}"` });
  });

  it('--md5-metadata (and DATALAKE_MD5_METADATA) keeps rclone\'s md5chksum on multipart uploads', async () => {
    const flag = await cli(['put', join(work.path, 'big.bin'), `s3://${bucket}/up/big-md5.bin`, '--md5-metadata']);
    expect(flag.code).toBe(0);
    expect(lastJson<Objects>(flag).objects[0]).toMatchObject({ crc32: crc32Base64(big), md5: md5(big) });
    expect(await stored('up/big-md5.bin')).toMatchObject({ crc32: crc32Base64(big), type: 'FULL_OBJECT', md5chksum: Buffer.from(md5(big), 'hex').toString('base64') });
    const setting = await runCli(['put', join(work.path, 'big.bin'), `s3://${bucket}/up/big-md5-env.bin`, '--json'], { env: { ...env, DATALAKE_MD5_METADATA: '1' } });
    expect(setting.code).toBe(0);
    expect((await stored('up/big-md5-env.bin')).md5chksum).toBe(Buffer.from(md5(big), 'hex').toString('base64'));
  });

  it('a part with a flipped byte is refused by the server and sent again; the object is whole', async () => {
    proxy.setRules([{ method: 'PUT', match: /partNumber=2&/, times: 1, fault: { kind: 'flip-request-byte', offset: 4321 } }]);
    const logFile = join(work.path, 'flipped.log');
    const result = await cli(['put', join(work.path, 'big.bin'), `s3://${bucket}/flipped/big.bin`, '--log-level', 'warn', '--log-file', logFile], proxied);
    expect(proxy.faults('flip-request-byte')).toBe(1);
    expect(result.code).toBe(0);
    const refused = proxy.log.filter((entry) => entry.method === 'PUT' && /partNumber=2&/.test(entry.url));
    expect(refused.length).toBe(2);
    // The server refused the damaged part, by the code of the checksum it checked first, and it was sent again.
    const retried = readFileSync(logFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { msg: string; code?: string }).filter((entry) => entry.msg === 'retrying');
    expect(retried.map((entry) => entry.code)).toEqual([REFUSED_PART_CODE]);
    expect(await stored('flipped/big.bin')).toMatchObject({ crc32: crc32Base64(big), type: 'FULL_OBJECT' });
  });
});

describe('downloads are proven by the full-object CRC32', () => {
  it('get of a multipart and a single object: verifiedBy crc32, identical files', async () => {
    for (const [key, data] of [
      ['up/big.bin', big],
      ['up/small.bin', small],
    ] as const) {
      const target = join(work.path, 'down', key);
      const result = await cli(['get', `s3://${bucket}/${key}`, target]);
      expect(result.code).toBe(0);
      expect(lastJson<Objects>(result).objects[0]).toMatchObject({ verifiedBy: 'crc32', crc32: crc32Base64(data) });
      expect(md5(readFileSync(target))).toBe(md5(data));
    }
  });

  it('cat and verify use the CRC32 too', async () => {
    const cat = await runCli(['cat', `s3://${bucket}/up/big.bin`], { env });
    expect(cat.code).toBe(0);
    expect(md5(cat.stdoutBytes)).toBe(md5(big));
    const verify = await cli(['verify', `s3://${bucket}/up/`]);
    expect(verify.code).toBe(0);
    expect(lastJson(verify)).toMatchObject({ ok: true, mismatched: [] });
  });

  it('an object whose stored CRC32 does not match its bytes fails get (nothing at the target) and verify', async () => {
    const wrong = crc32Base64(Buffer.from('not these bytes'));
    for (const key of ['up/big.bin', 'up/small.bin']) {
      proxy.setRules([{ match: new RegExp(key.replace('.', '\\.')), fault: { kind: 'set-response-header', name: 'x-amz-checksum-crc32', value: wrong } }]);
      const directory = join(work.path, 'bad-crc', key.replace('/', '-'));
      const target = join(directory, 'file.bin');
      const get = await cli(['get', `s3://${bucket}/${key}`, target], proxied);
      expect(get.code).toBe(1);
      expect(get.stderr).toMatch(/CRC32/);
      expect(existsSync(target)).toBe(false);
      noLeftovers(directory);
      const verify = await cli(['verify', `s3://${bucket}/${key}`], proxied);
      expect(verify.code).toBe(1);
      expect(lastJson<{ ok: boolean; mismatched: unknown[] }>(verify)).toMatchObject({ ok: false, mismatched: [expect.objectContaining({ key })] });
      if (key.endsWith('big.bin')) {
        // Against a local file, a multipart object is compared by its CRC32 (a single PUT's plain-MD5 ETag decides on its own).
        const against = await cli(['verify', `s3://${bucket}/${key}`, '--local', join(work.path, 'big.bin')], proxied);
        expect(against.code).toBe(1);
      }
    }
    proxy.setRules([]);
  });

  it('bytes damaged on the way of a ranged download fail the CRC32 (after one more try), nothing at the target', async () => {
    proxy.setRules([{ method: 'GET', match: /up\/big\.bin/, fault: { kind: 'flip-response-byte', offset: 3 * MiB } }]);
    const directory = join(work.path, 'bad-bytes');
    const get = await cli(['get', `s3://${bucket}/up/big.bin`, join(directory, 'big.bin')], proxied);
    proxy.setRules([]);
    expect(get.code).toBe(1);
    expect(get.stderr).toMatch(/CRC32/);
    noLeftovers(directory);
  });
});

describe('a server that keeps no checksums', () => {
  it('uploads still verify by MD5/ETag, and downloads fall back to the stored MD5 and the multipart ETag', async () => {
    // The proxy blanks the checksum the server returns on every answer, as a server that ignores the headers would.
    proxy.setRules([{ fault: { kind: 'set-response-header', name: 'x-amz-checksum-crc32', value: '' } }]);
    try {
      for (const [file, data] of [
        ['big.bin', big],
        ['small.bin', small],
      ] as const) {
        const put = await cli(['put', join(work.path, file), `s3://${bucket}/ignored/${file}`], proxied);
        expect(put.code, put.stderr).toBe(0);
        const get = await cli(['get', `s3://${bucket}/ignored/${file}`, join(work.path, 'ignored-down', file)], proxied);
        expect(get.code, get.stderr).toBe(0);
        expect(lastJson<Objects>(get).objects[0]).toMatchObject({ crc32: crc32Base64(data), verifiedBy: file === 'big.bin' ? 'multipart-etag' : 'metadata-md5' });
        expect(md5(readFileSync(join(work.path, 'ignored-down', file)))).toBe(md5(data));
      }
      const verify = await cli(['verify', `s3://${bucket}/ignored/`], proxied);
      expect(verify.code).toBe(0);
    } finally {
      proxy.setRules([]);
    }
  });
});

describe('other clients', () => {
  it('boto3 reads the FULL_OBJECT CRC32 of what datalake uploaded, and its own validation of a GET passes', () => {
    const output = boto3(`
s3 = client(response_checksum_validation='when_supported')
found = {}
for key in ['up/small.bin', 'up/big.bin']:
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode='ENABLED')
    got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode='ENABLED')
    body = got['Body'].read()  # botocore raises FlexibleChecksumError on a mismatch
    found[key] = {'crc32': head.get('ChecksumCRC32'), 'type': head.get('ChecksumType'), 'validated': got['ResponseMetadata']['HTTPHeaders'].get('x-amz-checksum-crc32'), 'size': len(body)}
print(json.dumps(found))
`);
    const found = JSON.parse(output) as Record<string, { crc32: string; type: string; validated: string; size: number }>;
    expect(found['up/small.bin']).toEqual({ crc32: crc32Base64(small), type: 'FULL_OBJECT', validated: crc32Base64(small), size: small.length });
    expect(found['up/big.bin']).toEqual({ crc32: crc32Base64(big), type: 'FULL_OBJECT', validated: crc32Base64(big), size: big.length });
  });

  it("boto3's validation is real: the same GETs with one byte of the body flipped on the way fail in boto3", async () => {
    proxy.setRules([{ method: 'GET', match: /\/up\/(small|big)\.bin/, fault: { kind: 'flip-response-byte', offset: 100_000 } }]);
    try {
      const output = await runPythonAsync(
        boto3Program(
          `
s3 = client(response_checksum_validation='when_supported')
outcome = {}
for key in ['up/small.bin', 'up/big.bin']:
    try:
        s3.get_object(Bucket=bucket, Key=key, ChecksumMode='ENABLED')['Body'].read()
        outcome[key] = 'read'
    except Exception as error:
        outcome[key] = type(error).__name__
print(json.dumps(outcome))
`,
          proxied.AWS_ENDPOINT_URL,
        ),
      );
      expect(proxy.faults('flip-response-byte')).toBe(2);
      expect(JSON.parse(output)).toEqual({ 'up/small.bin': 'FlexibleChecksumError', 'up/big.bin': 'FlexibleChecksumError' });
    } finally {
      proxy.setRules([]);
    }
  });

  it('objects boto3 uploaded, with and without its own checksums, single and multipart, download verified', async () => {
    writeFileSync(join(work.path, 'boto-small.bin'), small);
    boto3(`
from boto3.s3.transfer import TransferConfig
config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
for name, s3 in [('with', client(request_checksum_calculation='when_supported')), ('without', client(request_checksum_calculation='when_required'))]:
    s3.upload_file(${JSON.stringify(join(work.path, 'big.bin'))}, bucket, f'boto3/{name}/big.bin', Config=config)
    s3.upload_file(${JSON.stringify(join(work.path, 'boto-small.bin'))}, bucket, f'boto3/{name}/small.bin', Config=config)
`);
    const proofs: Record<string, { stored: string | undefined; verifiedBy: string | undefined }> = {};
    for (const name of ['with', 'without']) {
      for (const [file, data] of [
        ['big.bin', big],
        ['small.bin', small],
      ] as const) {
        const target = join(work.path, 'boto3-down', name, file);
        const result = await cli(['get', `s3://${bucket}/boto3/${name}/${file}`, target]);
        expect(result.code, result.stderr).toBe(0);
        expect(md5(readFileSync(target))).toBe(md5(data));
        proofs[`${name}/${file}`] = { stored: (await stored(`boto3/${name}/${file}`)).type, verifiedBy: lastJson<Objects>(result).objects[0]!.verifiedBy };
      }
    }
    // Each object is proven by the strongest proof it carries: boto3's own CRC32 where it sent one, else its ETag.
    expect(proofs).toEqual(BOTO3_PROOFS);
    expect(await stored('boto3/without/big.bin')).toMatchObject({ crc32: undefined });
  });

  it('objects the AWS CLI uploaded, with and without its own checksums, download verified', async () => {
    const config = join(work.path, 'aws-config');
    writeFileSync(config, '[default]\ns3 =\n  multipart_threshold = 5MB\n  multipart_chunksize = 5MB\n');
    const s3 = inject('s3');
    const proofs: Record<string, { stored: string | undefined; verifiedBy: string | undefined }> = {};
    for (const [name, calculation] of [
      ['with', 'when_supported'],
      ['without', 'when_required'],
    ] as const) {
      for (const file of ['big.bin', 'small.bin']) {
        // The pinned AWS CLI v1 (installed by the pretest step), which honours botocore's checksum settings.
        const upload = spawnSync(pinnedAwsCli(), ['s3', 'cp', join(work.path, file), `s3://${bucket}/aws/${name}/${file}`, '--endpoint-url', s3.endpoint!, '--only-show-errors'], {
          env: { ...env, AWS_CONFIG_FILE: config, AWS_REQUEST_CHECKSUM_CALCULATION: calculation, AWS_SHARED_CREDENTIALS_FILE: join(work.path, 'none') },
          encoding: 'utf8',
        });
        expect(upload.status, upload.stderr).toBe(0);
        const target = join(work.path, 'aws-down', name, file);
        const result = await cli(['get', `s3://${bucket}/aws/${name}/${file}`, target]);
        expect(result.code, result.stderr).toBe(0);
        expect(md5(readFileSync(target))).toBe(md5(file === 'big.bin' ? big : small));
        proofs[`${name}/${file}`] = { stored: (await stored(`aws/${name}/${file}`)).type, verifiedBy: lastJson<Objects>(result).objects[0]!.verifiedBy };
      }
    }
    expect(proofs).toEqual(AWS_CLI_PROOFS);
  });
});

describe('sync decides by the same proofs', () => {
  it('an identical multipart object is never sent again, even with no hash cache; a changed byte is always found', async () => {
    const tree = join(work.path, 'tree');
    mkdirSync(tree, { recursive: true });
    const data = Buffer.from(big);
    writeFileSync(join(tree, 'big.bin'), data);
    const first = await cli(['sync', tree, `s3://${bucket}/tree/`]);
    expect(first.code).toBe(0);
    expect(lastJson(first)).toMatchObject({ transferred: 1 });
    // A fresh state directory: no hash cache, so the object itself must prove the file is the same.
    const fresh = { ...env, DATALAKE_STATE_DIR: join(work.path, 'state-fresh') };
    const again = await runCli(['sync', tree, `s3://${bucket}/tree/`, '--json'], { env: fresh });
    expect(again.code).toBe(0);
    expect(lastJson(again)).toMatchObject({ transferred: 0, skipped: 1 });
    data[9 * MiB + 1] = data[9 * MiB + 1]! ^ 0xff;
    writeFileSync(join(tree, 'big.bin'), data);
    const changed = await runCli(['sync', tree, `s3://${bucket}/tree/`, '--json'], { env: fresh });
    expect(changed.code).toBe(0);
    expect(lastJson(changed)).toMatchObject({ transferred: 1 });
    expect(await stored('tree/big.bin')).toMatchObject({ crc32: crc32Base64(data), type: 'FULL_OBJECT' });
  });
});

/**
 * config/: what a run is told: settings from flags, the environment, .env and the AWS profile
 * (config.ts, the one resolution), units, the lake's layout, S3 addresses, where local state lives.
 * Imports nothing of core but errors.ts; every other folder may import it.
 */
import { usageError } from '../errors.js';
import { DEFAULT_LAYOUT, validateLayout } from './layout.js';
import { readFileSync } from 'node:fs';
import { GiB, MiB, parseCount, parseDuration, parseSize } from './units.js';
import { validateBucketName } from './address.js';

/** Settings as flags give them: strings, not yet checked. */
export interface SettingFlags {
  bucket?: string;
  region?: string;
  endpoint?: string;
  profile?: string;
  layout?: string;
  concurrency?: string;
  partSize?: string;
  retries?: string;
  timeout?: string;
}

export interface Settings {
  bucket: string | undefined;
  region: string;
  /** A custom endpoint (MinIO, Ceph, R2 …), from the flag, the environment or the profile. */
  endpoint: string | undefined;
  /**
   * Buckets addressed by path (`{endpoint}/{bucket}/{key}`) rather than by host name: the profile's
   * `s3 = addressing_style = path|virtual`; without one (or `auto`), path style for a custom endpoint.
   */
  forcePathStyle: boolean;
  /** FIPS endpoints: `AWS_USE_FIPS_ENDPOINT`, else the profile's `use_fips_endpoint`. */
  useFipsEndpoint: boolean;
  /** Dual-stack (IPv6) endpoints: `AWS_USE_DUALSTACK_ENDPOINT`, else the profile's `use_dualstack_endpoint` or `s3 = use_dualstack_endpoint`. */
  useDualstackEndpoint: boolean;
  /** S3 Transfer Acceleration: the profile's `s3 = use_accelerate_endpoint`, as the AWS CLI reads it. */
  useAccelerateEndpoint: boolean;
  profile: string | undefined;
  layout: string;
  /** Requests in flight at once, across all files. */
  concurrency: number;
  /** Multipart part size; a file no larger than one part goes up in a single PUT. */
  partSize: number;
  /** Retries after the first attempt of each request. */
  retries: number;
  /** The longest one request may take, its body included (`--timeout`). */
  timeoutMs: number;
  /** Certificates to trust instead of Node's own: the PEM text of AWS_CA_BUNDLE or the profile's `ca_bundle`. */
  ca: string | undefined;
}

export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * GiB;
/** Chosen by `npm run bench` on a 2-core machine against MinIO on loopback (see README). */
export const DEFAULT_CONCURRENCY = 32;
/** Upload parts held in memory at once, whatever the concurrency: 8 × 8 MiB by default. */
export const PART_BUFFERS_IN_FLIGHT = 8;
/** `--timeout`: a part of 5 GiB at about 9 MB/s. */
export const DEFAULT_TIMEOUT = '10m';
const MAX_TIMER_MS = 2 ** 31 - 1;
export const DEFAULT_PART_SIZE = 8 * MiB;
export const DEFAULT_RETRIES = 5;
export const DEFAULT_REGION = 'us-east-1';

/**
 * Flag > environment > `.env` > profile > default, from `process.env`. The caller merges `.env` into
 * it beforehand without overriding what is set (see applyDotenv), so it already carries both in the
 * right order.
 *
 * Region and endpoint are resolved as the AWS CLI and SDK resolve them, by the SDK's own loaders
 * (`@smithy/core/config`, `@smithy/core/endpoints`): the profile is `--profile`, else `AWS_PROFILE`,
 * else `default`, read from `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE` (or `~/.aws/`). Those
 * loaders read `process.env` (hence no other environment is taken here), so `--profile` is set there
 * as `AWS_PROFILE` for the whole run: the SDK's credential chain then takes the same profile. The
 * result feeds both the SDK client and the direct path (s3/connection.ts), so the two can never go to different
 * places.
 */
export async function resolveSettings(flags: SettingFlags): Promise<Settings> {
  const env = process.env;
  const pick = (flag: string | undefined, ...names: string[]): string | undefined => {
    if (flag !== undefined) return flag;
    for (const name of names) {
      const value = env[name];
      if (value !== undefined && value !== '') return value;
    }
    return undefined;
  };
  /** What a message calls a value: its setting, and the environment variable it was read from when no flag gave it. */
  const origin = (setting: string, flag: string | undefined, ...names: string[]): string => {
    const variable = flag === undefined ? names.find((name) => env[name] !== undefined && env[name] !== '') : undefined;
    return variable ? `${setting} in ${variable}` : setting;
  };

  const bucket = pick(flags.bucket, 'DATALAKE_BUCKET');
  if (bucket !== undefined) validateBucketName(bucket);

  const layout = pick(flags.layout, 'DATALAKE_LAYOUT') ?? DEFAULT_LAYOUT;
  validateLayout(layout);

  const concurrencyText = pick(flags.concurrency, 'DATALAKE_CONCURRENCY');
  const concurrency = concurrencyText === undefined ? DEFAULT_CONCURRENCY : parseCount(concurrencyText, origin('concurrency', flags.concurrency, 'DATALAKE_CONCURRENCY'), 1, 1024);

  const partSizeText = pick(flags.partSize, 'DATALAKE_PART_SIZE');
  const partSize = partSizeText === undefined ? DEFAULT_PART_SIZE : parseSize(partSizeText, origin('part size', flags.partSize, 'DATALAKE_PART_SIZE'));
  if (partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
    throw usageError(`invalid ${origin('part size', flags.partSize, 'DATALAKE_PART_SIZE')} '${partSizeText}': S3 parts are 5 MiB to 5 GiB`);
  }

  const retriesText = pick(flags.retries, 'DATALAKE_RETRIES');
  const retries = retriesText === undefined ? DEFAULT_RETRIES : parseCount(retriesText, origin('retries', flags.retries, 'DATALAKE_RETRIES'), 0, 100);

  const timeoutText = pick(flags.timeout, 'DATALAKE_TIMEOUT') ?? DEFAULT_TIMEOUT;
  // A longer limit than a Node timer holds (about 24.8 days) is no limit in practice: it is that.
  const timeoutMs = Math.min(parseDuration(timeoutText, origin('timeout', flags.timeout, 'DATALAKE_TIMEOUT')) * 1000, MAX_TIMER_MS);
  if (timeoutMs <= 0) throw usageError(`invalid timeout '${timeoutText}': must be above zero`);

  if (flags.endpoint !== undefined) validateEndpoint(flags.endpoint);
  validateProxies(env);
  if (flags.profile !== undefined) {
    if (flags.profile === '') throw usageError('invalid --profile: empty');
    env.AWS_PROFILE = flags.profile;
  }
  // Loaded here, not at start-up: `--version` and `--help` never read the config files.
  const { fromSharedConfig } = await import('./aws-settings.js');
  let fromProfile: Awaited<ReturnType<typeof fromSharedConfig>>;
  try {
    fromProfile = await fromSharedConfig(env);
  } catch (error) {
    // The SDK's loaders throw plain errors for a value they cannot read (`AWS_USE_FIPS_ENDPOINT=yes`).
    throw usageError(`invalid AWS configuration: ${(error as Error).message}`);
  }

  const region = pick(flags.region, 'AWS_REGION', 'AWS_DEFAULT_REGION') ?? fromProfile.region ?? DEFAULT_REGION;
  if (!/^[a-z0-9-]+$/.test(region)) throw usageError(`invalid region '${region}'`);

  const endpointText = flags.endpoint ?? fromProfile.endpoint;
  const endpoint = endpointText === undefined ? undefined : validateEndpoint(endpointText, fromProfile.endpointSource);

  const style = fromProfile.addressingStyle;
  if (style !== undefined && !['auto', 'path', 'virtual'].includes(style)) {
    throw usageError(`invalid s3 addressing_style '${style}' in profile '${fromProfile.profile}'`, 'use auto, path or virtual');
  }
  const forcePathStyle = style === 'path' || (style !== 'virtual' && endpoint !== undefined);

  const ca = fromProfile.caBundle === undefined ? undefined : readCaBundle(fromProfile.caBundle);

  const inProfile = ` in profile '${fromProfile.profile}'`;
  const useFipsEndpoint = fromProfile.useFipsEndpoint;
  const useDualstackEndpoint = fromProfile.useDualstackEndpoint || profileBoolean(fromProfile.s3UseDualstackEndpoint, `s3 use_dualstack_endpoint${inProfile}`);
  const useAccelerateEndpoint = profileBoolean(fromProfile.useAccelerateEndpoint, `s3 use_accelerate_endpoint${inProfile}`);
  refuseUnreachableCombinations({ endpoint, forcePathStyle, useFipsEndpoint, useDualstackEndpoint, useAccelerateEndpoint });

  return {
    bucket,
    region,
    endpoint,
    forcePathStyle,
    useFipsEndpoint,
    useDualstackEndpoint,
    useAccelerateEndpoint,
    profile: pick(flags.profile, 'AWS_PROFILE'),
    layout,
    concurrency,
    partSize,
    retries,
    timeoutMs,
    ca,
  };
}

function profileBoolean(value: string | undefined, name: string): boolean {
  if (value === undefined || value.toLowerCase() === 'false') return false;
  if (value.toLowerCase() === 'true') return true;
  throw usageError(`invalid ${name} '${value}'`, 'use true or false');
}

/**
 * Settings the S3 endpoint rules reject for every bucket (the SDK would fail each request with the
 * same message): refused here once, before any request, naming what to change.
 */
function refuseUnreachableCombinations(settings: { endpoint: string | undefined; forcePathStyle: boolean; useFipsEndpoint: boolean; useDualstackEndpoint: boolean; useAccelerateEndpoint: boolean }): void {
  const special = [
    settings.useFipsEndpoint && 'FIPS (AWS_USE_FIPS_ENDPOINT, use_fips_endpoint)',
    settings.useDualstackEndpoint && 'dual-stack (AWS_USE_DUALSTACK_ENDPOINT, use_dualstack_endpoint)',
    settings.useAccelerateEndpoint && 'S3 Transfer Acceleration (s3 use_accelerate_endpoint)',
  ].filter((name): name is string => typeof name === 'string');
  if (settings.endpoint !== undefined && special.length > 0) {
    throw usageError(`a custom endpoint (${settings.endpoint}) cannot be combined with ${special.join(' or ')}`, 'AWS chooses those endpoints itself: set one or the other');
  }
  if (settings.useAccelerateEndpoint && settings.useFipsEndpoint) throw usageError('S3 Transfer Acceleration cannot be combined with FIPS endpoints', 'turn one of them off');
  if (settings.useAccelerateEndpoint && settings.forcePathStyle) throw usageError('S3 Transfer Acceleration cannot be combined with path-style addressing', "set the profile's s3 addressing_style to virtual or auto");
}

/**
 * The CA bundle's certificates; a file that cannot be read, or holds no PEM certificate, or one that
 * does not parse (junk, empty, truncated, DER), is bad configuration, found before any request.
 */
function readCaBundle(bundle: { path: string; source: string }): string {
  let text: string;
  try {
    text = readFileSync(bundle.path, 'utf8');
  } catch (error) {
    throw usageError(`cannot read the CA bundle '${bundle.path}' (from ${bundle.source}): ${(error as NodeJS.ErrnoException).code ?? String(error)}`, 'point it at a PEM file of certificates');
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  const refuse = (what: string) => usageError(`the CA bundle '${bundle.path}' (from ${bundle.source}) ${what}`, 'point it at a PEM file of certificates (-----BEGIN CERTIFICATE-----)');
  if (blocks.length === 0) throw refuse('holds no PEM certificate');
  for (const [index, block] of blocks.entries()) {
    if (!isWholeDerSequence(block)) throw refuse(`has a certificate that does not parse (number ${index + 1})`);
  }
  return text;
}

/**
 * Whether a PEM block's body is base64 of one whole DER SEQUENCE (what a certificate is), its length
 * field covering exactly the bytes there: junk, a cut block or a doubled one fails. The certificate
 * itself is parsed by TLS when it is used; parsing every one of a system bundle's ~150 certificates
 * here (X509Certificate) cost every command 60–80 ms.
 */
function isWholeDerSequence(block: string): boolean {
  const body = block.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) return false;
  const der = Buffer.from(body, 'base64');
  if (der.length < 2 || der[0] !== 0x30) return false;
  const first = der[1]!;
  if (first < 0x80) return 2 + first === der.length;
  const lengthBytes = first & 0x7f;
  if (lengthBytes < 1 || lengthBytes > 4 || der.length < 2 + lengthBytes) return false;
  let length = 0;
  for (let index = 0; index < lengthBytes; index += 1) length = length * 256 + der[2 + index]!;
  return 2 + lengthBytes + length === der.length;
}

/** The proxy variables undici reads: a value it cannot use is refused, naming the variable, before any request. */
function validateProxies(env: NodeJS.ProcessEnv): void {
  for (const name of ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY']) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
      throw usageError(`malformed proxy URL in ${name}`, 'use http://[user:password@]host:port');
    }
  }
}

export function validateEndpoint(text: string, source?: string): string {
  const where = source === undefined ? '' : ` (from ${source})`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usageError(`malformed endpoint URL '${text}'${where}`, 'use http(s)://host[:port], e.g. http://127.0.0.1:9000');
  }
  if (url.username || url.password) {
    // The message never repeats the password.
    throw usageError(`malformed endpoint URL '${url.protocol}//***@${url.host}'${where}: credentials do not go in it`, 'give the keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or a profile, and the endpoint as http(s)://host[:port]');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw usageError(`malformed endpoint URL '${text}'${where}`, 'use http(s)://host[:port], e.g. http://127.0.0.1:9000');
  }
  return url.origin + (url.pathname === '/' ? '' : url.pathname);
}

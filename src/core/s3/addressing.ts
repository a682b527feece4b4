/**
 * Where a bucket's requests go: its endpoint (a custom one by path, else by the SDK's endpoint rules),
 * worked out once per bucket, and a key and a query as SigV4 writes them.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { usageError } from '../errors.js';

/** Where a bucket's requests go and how they are signed. */
export interface BucketEndpoint {
  url: URL;
  /** `url.origin`, `url.protocol`, `url.hostname` and `url.host`, read once (each read of a URL's part builds a string). */
  origin: string;
  protocol: string;
  hostname: string;
  host: string;
  /** The URL's path without its trailing slash: keys are appended to it. */
  basePath: string;
  signingRegion: string;
  /** The service in the signature's scope, as the endpoint rules name it: `s3`. */
  signingName: string;
}

export function bucketEndpoint(url: URL, signingRegion: string): BucketEndpoint {
  return { url, origin: url.origin, protocol: url.protocol, hostname: url.hostname, host: url.host, basePath: url.pathname.replace(/\/$/, ''), signingRegion, signingName: 's3' };
}

/**
 * A custom endpoint addressed by path, as the SDK's rules address it with forcePathStyle:
 * `{scheme}://{authority}{path, ending in /}{bucket}`, signed for the configured region.
 */
export function pathStyleEndpoint(endpoint: string, bucket: string, region: string): { url: URL; signingRegion: string } {
  const url = new URL(endpoint);
  const base = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
  return { url: new URL(`${url.protocol}//${url.host}${base}${encodeKey(bucket)}`), signingRegion: region };
}

/** A SigV4 canonical query string: names sorted, names and values escaped like key bytes, '/' too. */
export function canonicalQuery(query: Record<string, string>): string {
  const encode = (text: string) => encodeKey(text).replace(/\//g, '%2F');
  return Object.keys(query)
    .sort()
    .map((name) => `${encode(name)}=${encode(query[name]!)}`)
    .join('&');
}

const UNRESERVED_PATH = /^[\w\-.~/]*$/;

/** A key as S3 expects it in a SigV4 path: each byte outside RFC 3986's unreserved set escaped, '/' kept. */
export function encodeKey(key: string): string {
  // Most keys hold nothing to escape: one test instead of an encoding and two replacements.
  if (UNRESERVED_PATH.test(key)) return key;
  return encodeURIComponent(key)
    .replace(/%2F/g, '/')
    .replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The settings of config.ts that decide where a bucket's requests go (and, by the profile, whose credentials sign them). */
export interface EndpointSettings {
  region: string;
  endpoint: string | undefined;
  forcePathStyle?: boolean;
  useFipsEndpoint?: boolean;
  useDualstackEndpoint?: boolean;
  useAccelerateEndpoint?: boolean;
  profile?: string | undefined;
}

/**
 * Where the SDK's endpoint rules and credential chain come from: the run's SDK client, loaded on first
 * use (connection.ts's LazyS3Client). Named here, not imported, so connection.ts alone depends on it.
 */
export interface SdkClientSource {
  resolve(): Promise<S3Client>;
}

/**
 * Where each bucket's requests go and the region that signs them, worked out once per bucket: a
 * custom endpoint addressed by path directly, anything else by the SDK's own endpoint rules.
 */
export class BucketEndpoints {
  private readonly endpoints = new Map<string, BucketEndpoint>();

  constructor(
    private readonly client: SdkClientSource,
    private readonly settings: EndpointSettings,
  ) {}

  /** The bucket's endpoint when it is already known: no await, as for every request after a bucket's first. */
  known(bucket: string): BucketEndpoint | undefined {
    return this.endpoints.get(bucket);
  }

  /** The bucket's URL and signing region, once per bucket. */
  async of(bucket: string): Promise<BucketEndpoint> {
    let endpoint = this.endpoints.get(bucket);
    if (!endpoint) {
      const { url, signingRegion } = this.settings.endpoint && this.pathStyle() ? pathStyleEndpoint(this.settings.endpoint, bucket, this.settings.region) : await this.sdkEndpoint(bucket);
      endpoint = bucketEndpoint(url, signingRegion);
      this.endpoints.set(bucket, endpoint);
    }
    return endpoint;
  }

  /** As the SDK client is configured (connection.ts): path style as settled by config.ts, by default for a custom endpoint. */
  private pathStyle(): boolean {
    return this.settings.forcePathStyle ?? this.settings.endpoint !== undefined;
  }

  /**
   * By the SDK's own endpoint rules, with the settings the SDK client has (virtual-hosted or path
   * style, FIPS, dual-stack, acceleration; the bucket's signing region). A bucket the rules sign
   * otherwise than SigV4 for `s3` (an S3 Express directory bucket's session auth) is refused here
   * rather than sent with a signature it would refuse; address.ts refuses those names before this.
   */
  private async sdkEndpoint(bucket: string): Promise<{ url: URL; signingRegion: string }> {
    const client = await this.client.resolve();
    let resolved: ReturnType<typeof client.config.endpointProvider>;
    try {
      resolved = client.config.endpointProvider({
        Bucket: bucket,
        Region: this.settings.region,
        UseFIPS: this.settings.useFipsEndpoint ?? false,
        UseDualStack: this.settings.useDualstackEndpoint ?? false,
        ForcePathStyle: this.pathStyle(),
        Accelerate: this.settings.useAccelerateEndpoint ?? false,
        UseArnRegion: false,
        DisableMultiRegionAccessPoints: false,
        ...(this.settings.endpoint ? { Endpoint: this.settings.endpoint } : {}),
      });
    } catch (error) {
      // The rules' own words (e.g. "Path-style addressing cannot be used with S3 Accelerate" for a dotted name).
      throw usageError(`bucket '${bucket}' cannot be reached with these settings: ${(error as Error).message}`);
    }
    const schemes = (resolved.properties?.authSchemes ?? []) as Array<{ name?: string; signingName?: string; signingRegion?: string }>;
    const sigv4 = schemes.find((scheme) => scheme.name === 'sigv4' && (scheme.signingName ?? 's3') === 's3');
    if (schemes.length > 0 && !sigv4) throw usageError(`bucket '${bucket}' needs ${schemes.map((scheme) => scheme.name).join(' or ')} signing, which datalake does not support`);
    return { url: new URL(resolved.url.href), signingRegion: sigv4?.signingRegion ?? this.settings.region };
  }
}

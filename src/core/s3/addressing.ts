/** Where a bucket's requests go and how they are signed, worked out once per bucket. */
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


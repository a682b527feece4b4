import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import type { SignatureV4 } from '@smithy/signature-v4';
import type { SourceData } from '@smithy/types';
import { commonJsExports } from './sdk.js';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

/** Keys set in the environment, when no profile is named (by flag or AWS_PROFILE); else undefined. */
export function environmentCredentials(profile: string | undefined, env: NodeJS.ProcessEnv): Credentials | undefined {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = env;
  if (profile || env.AWS_PROFILE || !accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, sessionToken: sessionToken || undefined };
}

/** What is signed: a request as the SDK's signer takes it (lower-case header names). */
export interface SignableRequest {
  method: string;
  protocol: string;
  hostname: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
}

/**
 * SigV4 in the Authorization header by the AWS SDK's own signer (`@smithy/signature-v4`), loaded with
 * the first request. Two things cut its cost per request, neither touching what it signs:
 * - the signing key is derived once per day, region, service and credentials. The signer keeps such
 *   a cache too, but looks it up by an HMAC of the credentials computed anew for every request;
 * - its hashes come from node:crypto straight (`NodeSha256`), without the copy the SDK's own wrapper
 *   makes of every hash before reading it (so that it can go on being fed, which signing never does).
 */
export class RequestSigner {
  private signer: SignatureV4 | undefined;
  private loading: Promise<SignatureV4> | undefined;

  constructor(
    private readonly region: string,
    private readonly credentials: () => Promise<Credentials>,
  ) {}

  /** The request's headers with its signature, dated `signingDate`. */
  async sign(request: SignableRequest, signingDate: Date, signingRegion: string): Promise<Record<string, string>> {
    const signer = this.signer ?? (await (this.loading ??= this.create()));
    const signed = await signer.sign(request, { signingDate, signingRegion });
    return signed.headers;
  }

  private async create(): Promise<SignatureV4> {
    const { SignatureV4 } = await import('@smithy/signature-v4').then(commonJsExports<typeof import('@smithy/signature-v4')>);
    const signer = new SignatureV4({ credentials: this.credentials, region: this.region, service: 's3', sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });
    cacheSigningKeys(signer);
    this.signer = signer;
    return signer;
  }
}

type DeriveKey = (credentials: Credentials, region: string, shortDate: string, service?: string) => Promise<Uint8Array>;

/** Signing keys kept, at most: one per region and day a run signs for. */
const SIGNING_KEYS_KEPT = 16;

/**
 * Keeps the signer's derived signing keys by day, region and service, for the same credentials (a
 * refreshed set derives anew). The signer's `getSigningKey` is not part of its typed interface: if a
 * later version no longer has it, signing goes on uncached.
 */
function cacheSigningKeys(signer: SignatureV4): void {
  const record = signer as unknown as { getSigningKey?: DeriveKey };
  const derive = record.getSigningKey;
  if (typeof derive !== 'function') return;
  const keys = new Map<string, { credentials: Credentials; key: Promise<Uint8Array> }>();
  record.getSigningKey = (credentials, region, shortDate, service) => {
    const name = `${shortDate}/${region}/${service ?? ''}`;
    const kept = keys.get(name);
    if (kept && sameCredentials(kept.credentials, credentials)) return kept.key;
    if (keys.size >= SIGNING_KEYS_KEPT) keys.clear();
    const key = derive.call(signer, credentials, region, shortDate, service);
    keys.set(name, { credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, sessionToken: credentials.sessionToken }, key });
    return key;
  };
}

function sameCredentials(a: Credentials, b: Credentials): boolean {
  return a.secretAccessKey === b.secretAccessKey && a.accessKeyId === b.accessKeyId && a.sessionToken === b.sessionToken;
}

/** SHA-256, or HMAC-SHA256 with a secret, as the signer's `sha256` option takes it, on node:crypto. */
class NodeSha256 {
  private hash: Hash | Hmac;

  private readonly secret: string | Uint8Array | undefined;

  constructor(secret?: SourceData) {
    this.secret = secret === undefined || typeof secret === 'string' ? secret : bytes(secret);
    this.hash = this.create();
  }

  update(data: Uint8Array): void {
    this.hash.update(data);
  }

  digest(): Promise<Uint8Array> {
    const digest = this.hash.digest();
    return Promise.resolve(new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength));
  }

  reset(): void {
    this.hash = this.create();
  }

  private create(): Hash | Hmac {
    return this.secret ? createHmac('sha256', this.secret) : createHash('sha256');
  }
}

function bytes(data: ArrayBuffer | ArrayBufferView): Uint8Array {
  return ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
}

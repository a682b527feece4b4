import type { S3Client } from '@aws-sdk/client-s3';
import type { BuildMiddleware, MetadataBearer } from '@smithy/types';
import { CONNECT_TIMEOUT_MS, REQUEST_IDLE_TIMEOUT_MS, type Settings } from './config.js';
import { DirectRequests } from './direct-requests.js';
import { nodeHttpHandler, sdk } from './sdk.js';

/** The SDK client for every request but the hot ones, and the direct path for those. */
export interface S3Connection {
  client: LazyS3Client;
  direct: DirectRequests;
}

export function connectS3(settings: Settings): S3Connection {
  const client = new LazyS3Client(() => createS3Client(settings));
  return { client, direct: new DirectRequests(client, settings) };
}

/**
 * The SDK client, created on first use. Loading the SDK's modules takes about 70 ms, a third of a
 * short command's start-up, and a transfer with env credentials and a custom endpoint never needs
 * it: only deletes, resuming an upload (ListParts), CopyObject, bucket setup, presigning and
 * listing buckets do.
 */
export class LazyS3Client {
  private loading: Promise<S3Client> | undefined;
  private loaded: S3Client | undefined;

  constructor(private readonly create: () => Promise<S3Client>) {}

  /** The client itself, for the SDK helpers that take one (presigning). */
  resolve(): Promise<S3Client> {
    this.loading ??= this.create().then((client) => (this.loaded = client));
    return this.loading;
  }

  /** `client.send`, once the client is there. */
  readonly send = ((command: Parameters<S3Client['send']>[0], options?: Parameters<S3Client['send']>[1]) =>
    this.resolve().then((client) => client.send(command, options as never))) as S3Client['send'];

  destroy(): void {
    this.loaded?.destroy();
  }
}

/**
 * The S3 client, configured once from the one resolution of config.ts (region, endpoint and
 * addressing style, as the direct path gets them): the SDK's default credential chain (env,
 * profiles, SSO, IMDS), keep-alive sockets sized to the concurrency, and the
 * SDK's own retries and CRC32 checksums off (retries and MD5 checksums are ours, done once).
 */
async function createS3Client(settings: Settings): Promise<S3Client> {
  const [{ S3Client }, { NodeHttpHandler }, { Agent: HttpAgent }, { Agent: HttpsAgent }] = await Promise.all([sdk(), nodeHttpHandler(), import('node:http'), import('node:https')]);
  const agentOptions = { keepAlive: true, maxSockets: settings.concurrency + 4, keepAliveMsecs: 1000 };
  const client = new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    ...(settings.profile ? { profile: settings.profile } : {}),
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
      connectionTimeout: CONNECT_TIMEOUT_MS,
      socketTimeout: REQUEST_IDLE_TIMEOUT_MS,
    }),
  });
  client.middlewareStack.add(signWithoutHashingBodies, { step: 'build', name: 'datalakeUnsignedPayload' });
  return client;
}

/**
 * Over plain http SigV4 would hash every body with SHA-256 just to sign it: a second full pass over
 * each byte. A body that carries Content-MD5 is already proven end to end (the server refuses any
 * other bytes), so its payload is declared UNSIGNED-PAYLOAD and the signer skips that pass.
 */
const signWithoutHashingBodies: BuildMiddleware<object, MetadataBearer> = (next) => async (args) => {
  const request = args.request as { headers?: Record<string, string> };
  if (request.headers && request.headers['content-md5'] !== undefined && request.headers['x-amz-content-sha256'] === undefined) {
    request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  }
  return next(args);
};

/**
 * s3/: the S3 client. The transport (undici: proxy, CA, time limits, clock), SigV4 requests of
 * transfers (requests.ts; each bucket's endpoint from addressing.ts, signed by request-signer.ts) and
 * the SDK client for the rest (this file), strict reading of answers, errors explained, the retry
 * policy (retry.ts), the request limiter (limiter.ts), listing, HEAD, presigning, incomplete uploads. Imports config/, errors.ts, events.ts and checksums.ts's pure
 * helpers; context.ts names two types of transfer/ (the buffer pool, the upload journal).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { BuildMiddleware, MetadataBearer } from '@smithy/types';
import type { Settings } from '../config/config.js';
import { S3Requests } from './requests.js';
import { refuseAnswersNotFromS3 } from './answer-check.js';
import { sdk } from './sdk.js';
import { Transport } from './transport.js';
import { controlLaneSize } from './limiter.js';

/** The SDK client for every request but the hot ones, and the direct path for those: both on one transport. */
export interface S3Connection {
  client: LazyS3Client;
  direct: S3Requests;
}

export function connectS3(settings: Settings): S3Connection {
  // A connection for every request the limiter lets out at once, in both its lanes: a control request
  // never waits in undici's queue behind the data requests (where its stall limit would already run).
  const connections = settings.concurrency + controlLaneSize(settings.concurrency);
  const transport = new Transport({ connections, ca: settings.ca, timeoutMs: settings.timeoutMs });
  const client = new LazyS3Client(() => createS3Client(settings, transport), transport);
  return { client, direct: new S3Requests(client, transport, settings) };
}

/**
 * The SDK client, created on first use. Loading the SDK's modules is a large share of a short
 * command's start-up, and a transfer with env credentials and a custom endpoint never needs it: only deletes, resuming an upload (ListParts), CopyObject, bucket setup, presigning and
 * listing buckets do.
 */
export class LazyS3Client {
  private loading: Promise<S3Client> | undefined;
  private loaded: S3Client | undefined;

  constructor(
    private readonly create: () => Promise<S3Client>,
    private readonly transport?: Transport,
  ) {}

  /** The client itself, for the SDK helpers that take one (presigning). */
  resolve(): Promise<S3Client> {
    this.loading ??= this.create().then((client) => (this.loaded = client));
    return this.loading;
  }

  /** `client.send`, once the client is there. */
  readonly send = ((command: Parameters<S3Client['send']>[0], options?: Parameters<S3Client['send']>[1]) =>
    this.resolve().then((client) => client.send(command, options as never))) as S3Client['send'];

  /** Server time minus this machine's, as the run's answers showed it: what presigned URLs are dated by. */
  get clockOffsetMs(): number {
    return this.transport?.clockOffsetMs ?? 0;
  }

  /** Ends the run's connections, the SDK's and the direct path's. */
  destroy(): void {
    this.loaded?.destroy();
    this.transport?.close();
  }
}

/**
 * The S3 client, configured once from the one resolution of config.ts (region, endpoint, addressing
 * style, FIPS, dual-stack and acceleration, as the direct path gets them): the SDK's default
 * credential chain (env, profiles, SSO, IMDS), the run's transport (proxy, CA bundle, connections,
 * time limits, clock), and the SDK's own retries and CRC32 checksums off (retries and MD5 checksums
 * are ours, done once).
 */
async function createS3Client(settings: Settings, transport: Transport): Promise<S3Client> {
  const [{ S3Client }, { TransportHttpHandler }] = await Promise.all([sdk(), import('./sdk-http-handler.js')]);
  const client = new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    useFipsEndpoint: settings.useFipsEndpoint,
    useDualstackEndpoint: settings.useDualstackEndpoint,
    useAccelerateEndpoint: settings.useAccelerateEndpoint,
    ...(settings.profile ? { profile: settings.profile } : {}),
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    systemClockOffset: transport.clockOffsetMs,
    requestHandler: new TransportHttpHandler(transport),
  });
  client.middlewareStack.add(signWithoutHashingBodies, { step: 'build', name: 'datalakeUnsignedPayload' });
  // One clock for the run: what the direct path's answers taught the transport, the SDK signs with.
  // The SDK corrects its own offset from its answers as well (and marks the error it retries).
  const config = client.config as { systemClockOffset: number };
  client.middlewareStack.add((next) => (args) => {
    if (transport.clockOffsetMs !== 0) config.systemClockOffset = transport.clockOffsetMs;
    return next(args);
  }, { step: 'build', name: 'datalakeClockOffset' });
  refuseAnswersNotFromS3(client);
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

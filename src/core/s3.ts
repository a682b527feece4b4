import http from 'node:http';
import https from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { BuildMiddleware, MetadataBearer } from '@smithy/types';
import type { Settings } from './config.js';
import { DirectRequests } from './direct-requests.js';

/** The SDK client for every request but the two hot ones, and the direct path for those, sharing sockets. */
export interface S3Connection {
  client: S3Client;
  direct: DirectRequests;
}

export function connectS3(settings: Settings): S3Connection {
  const agentOptions = { keepAlive: true, maxSockets: settings.concurrency + 4, keepAliveMsecs: 1000 };
  const agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };
  const client = createS3Client(settings, agents);
  return { client, direct: new DirectRequests(client, settings) };
}

/**
 * The S3 client, configured once: the SDK's default credential chain (env, profiles, SSO, IMDS),
 * path-style addressing for custom endpoints, keep-alive sockets sized to the concurrency, and the
 * SDK's own retries and CRC32 checksums off (retries and MD5 checksums are ours, done once).
 */
function createS3Client(settings: Settings, agents: { http: http.Agent; https: https.Agent }): S3Client {
  const client = new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint, forcePathStyle: true } : {}),
    ...(settings.profile ? { profile: settings.profile } : {}),
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: new NodeHttpHandler({
      httpAgent: agents.http,
      httpsAgent: agents.https,
      connectionTimeout: 5_000,
      // A socket that sends or receives nothing for this long is given up and retried.
      socketTimeout: 60_000,
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

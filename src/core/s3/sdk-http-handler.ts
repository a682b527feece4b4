import type { Readable } from 'node:stream';
import { buildQueryString } from '@smithy/core/protocols';
import type { HttpHandlerOptions, HttpRequest, HttpResponse } from '@smithy/types';
import type { Method, Transport } from './transport.js';

/**
 * The AWS SDK client's requests, sent on the run's one transport (transport.ts): the same proxy, CA
 * bundle, connections, time limits and clock as the direct path. It does what the SDK's
 * NodeHttpHandler does with a request — path and query joined, the answer handed back with its body
 * as a stream — on undici instead of node:http.
 */
export class TransportHttpHandler {
  readonly metadata = { handlerProtocol: 'http/1.1' };

  constructor(private readonly transport: Transport) {}

  async handle(request: HttpRequest, options: HttpHandlerOptions = {}): Promise<{ response: HttpResponse }> {
    const query = buildQueryString(request.query ?? {});
    const host = request.hostname.includes(':') && !request.hostname.startsWith('[') ? `[${request.hostname}]` : request.hostname;
    const headers: Record<string, string> = {};
    for (const name in request.headers) {
      // undici frames the body itself and does not wait for a 100 Continue.
      const lower = name.toLowerCase();
      if (lower !== 'expect' && lower !== 'transfer-encoding' && lower !== 'connection') headers[name] = request.headers[name]!;
    }
    const answer = await this.transport.request({
      method: request.method as Method,
      origin: `${request.protocol}//${host}${request.port ? `:${request.port}` : ''}`,
      path: query ? `${request.path}?${query}` : request.path,
      headers,
      body: request.body as Buffer | string | Readable | undefined,
      signal: options.abortSignal as AbortSignal | undefined,
    });
    return { response: { statusCode: answer.status, headers: answer.headers, body: answer.body } };
  }

  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {
    // The transport is the run's, closed with it.
  }
}

import type { Dispatcher } from 'undici';
import { CONNECT_TIMEOUT_MS } from './deadlines.js';

/** The run's undici dispatchers, one per scheme. */
export interface Dispatchers {
  http: Dispatcher;
  https: Dispatcher;
}

export interface AgentSettings {
  connections: number;
  ca: string | undefined;
  /** The limit on a proxy's answer to CONNECT. */
  proxyAnswerMs: number;
}

/**
 * One agent per scheme: `HTTPS_PROXY` carries https requests and `HTTP_PROXY` plain-http ones, each
 * alone, as curl and the AWS CLI read them (undici alone would send https through `HTTP_PROXY` when
 * `HTTPS_PROXY` is unset). A scheme with no proxy set gets the plain `Agent` that undici's
 * `EnvHttpProxyAgent` would send every request to in that case, without its per-request look-up
 * (a URL parsed and NO_PROXY read from the environment for each request).
 */
export async function loadDispatchers(settings: AgentSettings, env: NodeJS.ProcessEnv = process.env): Promise<Dispatchers> {
  // undici through its index, though that also loads fetch, WebSocket and the cache, which datalake
  // never uses: loaded module by module instead, a large download ran many more full garbage
  // collections and took more CPU (the measurements: README, Performance).
  const { default: undici } = await import('undici');
  const { Agent, Pool } = undici;
  const httpProxy = env.http_proxy ?? env.HTTP_PROXY;
  const httpsProxy = env.https_proxy ?? env.HTTPS_PROXY;
  const EnvHttpProxyAgent = httpProxy || httpsProxy ? undici.EnvHttpProxyAgent : undefined;
  const tls = { ca: settings.ca, timeout: CONNECT_TIMEOUT_MS };
  const options = {
    connections: settings.connections,
    keepAliveTimeout: 10_000,
    // Direct connections take `connect`, those tunnelled through a proxy `requestTls`.
    connect: tls,
    requestTls: tls,
    // Plain-http requests go to an HTTP proxy as absolute URLs (`GET http://…`), as curl sends them.
    proxyTunnel: false,
    // The proxy's answer to CONNECT: a request waiting for its tunnel is deaf to its abort signal, so
    // the proxy's connection gets the limits itself (otherwise undici's default, 300 s).
    proxyTls: { timeout: CONNECT_TIMEOUT_MS },
    clientFactory: (origin: URL, options: object) => new Pool(origin, { ...options, headersTimeout: settings.proxyAnswerMs }),
  } as ConstructorParameters<typeof import('undici').EnvHttpProxyAgent>[0];
  const direct = () => new Agent(options);
  // The variables read above are exactly those EnvHttpProxyAgent reads, in its order; an empty one
  // is none. An empty proxy given to it stops undici from falling back to the other scheme's variable.
  return {
    http: httpProxy && EnvHttpProxyAgent ? new EnvHttpProxyAgent({ ...options, httpsProxy: '' }) : direct(),
    https: httpsProxy && EnvHttpProxyAgent ? new EnvHttpProxyAgent({ ...options, httpProxy: '' }) : direct(),
  };
}

/** The proxy undici sends requests to `origin` through, as EnvHttpProxyAgent picks it (NO_PROXY aside). */
export function proxyUrlFor(origin: string): URL | undefined {
  const env = process.env;
  const proxy = origin.startsWith('https:') ? (env.https_proxy ?? env.HTTPS_PROXY) : (env.http_proxy ?? env.HTTP_PROXY);
  try {
    return proxy ? new URL(proxy) : undefined;
  } catch {
    return undefined;
  }
}

/** That proxy's origin, which never carries its password. */
export function proxyFor(origin: string): string {
  return proxyUrlFor(origin)?.origin ?? 'in HTTPS_PROXY/HTTP_PROXY';
}

import { DatalakeError } from '../errors.js';
import { proxyFor, proxyUrlFor } from './agents.js';
import { CONNECT_TIMEOUT_MS } from './deadlines.js';

/** Errors whose code means the certificate the endpoint showed is not trusted. */
const CERTIFICATE_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'INVALID_CA',
]);

/** The endpoint cannot be used at all (never answers, speaks plain http, shows a certificate not trusted): ends the run. */
export class EndpointError extends DatalakeError {
  constructor(
    readonly code: 'EndpointUnanswered' | 'ProxyUnanswered' | 'ProxyRefused' | 'ProxyUnreachable' | 'PlainHttpEndpoint' | 'UntrustedCertificate',
    message: string,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super('failed', message, options);
    this.name = 'EndpointError';
  }
}

/** How a request that failed before its answer went. */
export interface Failure {
  origin: string;
  answeredBefore: boolean;
  /** Its --timeout passed. */
  expired: boolean;
  /** The --timeout. */
  limitMs: number;
  firstAnswerMs: number;
  /** The limit on a proxy's answer to CONNECT. */
  proxyAnswerMs: number;
}

/** The error a failed request ends with: one that says what is wrong with the endpoint where that is the cause. */
export function explainFailure(error: unknown, failure: Failure): unknown {
  const { origin, answeredBefore, firstAnswerMs } = failure;
  if (failure.expired && !answeredBefore) {
    return new EndpointError('EndpointUnanswered', `no answer from ${origin} within the --timeout of ${failure.limitMs / 1000} s`, { cause: error });
  }
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const proxy = proxyUrlFor(origin);
  const tunnelRefused = /^Proxy response \((\d+)\) !== 200/.exec(message);
  if (proxy && tunnelRefused) {
    const variable = origin.startsWith('https:') ? 'HTTPS_PROXY' : 'HTTP_PROXY';
    const status = Number(tunnelRefused[1]);
    const why = status === 401 || status === 403 || status === 407 ? `: check the proxy credentials in ${variable}` : '';
    return new EndpointError('ProxyRefused', `the proxy ${proxy.origin} refused the request (HTTP ${status}${why})`, { cause: error });
  }
  const failedAt = error as { port?: unknown; hostname?: unknown } | null;
  const proxyPort = proxy ? Number(proxy.port || (proxy.protocol === 'https:' ? 443 : 80)) : undefined;
  if (proxy && ((code === 'ECONNREFUSED' && failedAt?.port === proxyPort) || ((code === 'ENOTFOUND' || code === 'EAI_AGAIN') && failedAt?.hostname === proxy.hostname))) {
    return new EndpointError('ProxyUnreachable', `cannot connect to the proxy ${proxy.origin}: ${code}`, { hint: 'check HTTPS_PROXY and HTTP_PROXY', cause: error });
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    // Requests themselves run without undici's headersTimeout: only the proxy's CONNECT has one.
    return new EndpointError('ProxyUnanswered', `no answer from the proxy ${proxyFor(origin)} within ${failure.proxyAnswerMs / 1000} s`, { hint: 'check HTTPS_PROXY and HTTP_PROXY', cause: error });
  }
  if (code === 'RequestStalled' && !answeredBefore) {
    return new EndpointError('EndpointUnanswered', `no answer from ${origin} within ${firstAnswerMs / 1000} s`, { hint: 'check the endpoint, and the proxy if one is set', cause: error });
  }
  if (origin.startsWith('https:') && (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(message))) {
    return new EndpointError('PlainHttpEndpoint', `the endpoint speaks plain http: use ${origin.replace(/^https:/, 'http:')}`, { cause: error });
  }
  if (typeof code === 'string' && CERTIFICATE_CODES.has(code)) {
    return new EndpointError('UntrustedCertificate', `the certificate of ${origin} is not trusted: ${message}`, { hint: certificateHint(code), cause: error });
  }
  if (!answeredBefore && (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT')) {
    const what = code === 'UND_ERR_CONNECT_TIMEOUT' ? 'could not connect to' : 'no answer from';
    const within = code === 'UND_ERR_CONNECT_TIMEOUT' ? CONNECT_TIMEOUT_MS : firstAnswerMs;
    return new EndpointError('EndpointUnanswered', `${what} ${origin} within ${within / 1000} s`, { hint: 'check the endpoint, and the proxy if one is set', cause: error });
  }
  return error;
}

/** What to do about a certificate refused for this reason: only an unknown authority is a matter of the CA bundle. */
function certificateHint(code: string): string {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'the certificate does not name this host: use the host name it was issued for in the endpoint';
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return "the certificate is outside its validity dates: renew it on the server, or check this machine's clock";
  if (code === 'CERT_REVOKED') return 'the certificate was revoked: the server needs a new one';
  return "set AWS_CA_BUNDLE, or the profile's ca_bundle, to the certificate of the authority that signed it";
}

/**
 * The request a failure below HTTP belongs to — no answer, or an answer whose body broke off — as
 * its error is explained (explain-error.ts): `GET s3://lake/raw/x.csv`, and the endpoint it went to.
 * Only requests.ts knows the object, so it marks the error (`markFailedRequest`); undici's error is
 * left as it is otherwise, its code still what the retry policy reads.
 */
export interface FailedRequest {
  request: string;
  origin: string;
}

const FAILED_REQUEST = Symbol('failedRequest');

export function markFailedRequest(error: unknown, request: FailedRequest): unknown {
  if (typeof error === 'object' && error !== null && !Object.hasOwn(error, FAILED_REQUEST)) Object.defineProperty(error, FAILED_REQUEST, { value: request });
  return error;
}

export function failedRequestOf(error: unknown): FailedRequest | undefined {
  return typeof error === 'object' && error !== null ? (error as { [FAILED_REQUEST]?: FailedRequest })[FAILED_REQUEST] : undefined;
}

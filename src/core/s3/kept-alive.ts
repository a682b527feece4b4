import { subscribe } from 'node:diagnostics_channel';

/**
 * Which failed requests went out on a kept-alive connection that the server had closed: the
 * connection completed an earlier exchange, and nothing of this request's answer came before it was
 * lost. Only such a request is known not to have reached the server, and transport.ts sends it again
 * at once. undici says neither thing in its error (a socket error carries the connection's byte
 * counts, which mix earlier answers with a piece of this one; Node's ECONNRESET carries none), so the
 * connection each request goes out on, and what it had read by then, is noted from undici's own
 * diagnostics channels: where a request is written (`undici:client:sendHeaders`), and where it fails
 * (`undici:request:error`).
 *
 * What counts as lost, and what does not:
 * - the connection ended (UND_ERR_SOCKET) or was reset while reading (ECONNRESET from a read) with
 *   nothing read since the request went out: the server had closed it, and the request is resent;
 * - a connection new to this request: its loss is the retry policy's (retry.ts), as is one that had
 *   read part of this answer (the server got the request: it began to answer);
 * - a write that failed (EPIPE, or ECONNRESET from a write): the server may have answered before it
 *   closed — S3 and MinIO answer a refused upload from its headers and close without reading the
 *   body — and Node drops an answer not yet read when a write fails. Not known unanswered, so never
 *   resent here; the retry policy sends it again, counted and logged.
 */

/** The connection each request went out on, and the bytes it had read before. */
const sentOn = new WeakMap<object, { socket: { bytesRead: number }; readBefore: number }>();
/** The errors of requests lost on a kept-alive connection before any byte of their answer. */
const lostBeforeAnswer = new WeakSet<object>();
let watching = false;

/** Starts noting where requests go out (once per process, with undici's first load). */
export function watchKeptAliveConnections(): void {
  if (watching) return;
  watching = true;
  subscribe('undici:client:sendHeaders', (message) => {
    const { request, socket } = message as { request?: object; socket?: { bytesRead?: unknown } };
    if (request && typeof socket?.bytesRead === 'number') sentOn.set(request, { socket: socket as { bytesRead: number }, readBefore: socket.bytesRead });
  });
  subscribe('undici:request:error', (message) => {
    const { request, error } = message as { request?: object; error?: unknown };
    const sent = request && sentOn.get(request);
    if (!sent || typeof error !== 'object' || error === null) return;
    if (sent.readBefore > 0 && sent.socket.bytesRead === sent.readBefore && lostWhileReading(error)) lostBeforeAnswer.add(error);
  });
}

/** The connection ended or was reset as it was read: not a write that failed. */
function lostWhileReading(error: object): boolean {
  const { code, syscall } = error as { code?: unknown; syscall?: unknown };
  return code === 'UND_ERR_SOCKET' || (code === 'ECONNRESET' && syscall === 'read');
}

/** The request failed on a kept-alive connection the server had closed, before any byte of its answer. */
export function lostKeptAliveConnection(error: unknown): boolean {
  return typeof error === 'object' && error !== null && lostBeforeAnswer.has(error);
}

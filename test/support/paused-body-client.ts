/**
 * A child process for test/unit/transport-paused-body.test.ts, bundled as datalake ships: a local
 * server answers one GET with `Connection: close` (and `Content-Length`, unless the declared length is
 * -1), writes the body — or only part of it — and ends the connection. The client reads nothing until
 * the server has handed all of it to the network, then reads 1 KiB per turn: the body's stream stays
 * at its high-water mark, so each chunk the parser takes from the socket pauses it again, the last one
 * too, and the connection ends under a paused parser. Prints `{ received, error }` as JSON; a crash
 * ends the process with a stack on stderr.
 * Arguments: the declared length (-1: none), the bytes sent.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Transport } from '../../src/core/s3/transport.js';

const declared = Number(process.argv[2]);
const sent = Number(process.argv[3]);

let serverDone!: () => void;
const serverFinished = new Promise<void>((resolve) => (serverDone = resolve));
const server = net.createServer((socket) => {
  socket.once('data', () => {
    const length = declared >= 0 ? `Content-Length: ${declared}\r\n` : '';
    socket.write(`HTTP/1.1 200 OK\r\n${length}Connection: close\r\n\r\n`);
    socket.end(Buffer.alloc(sent, 7), serverDone);
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;

const transport = new Transport({ connections: 1, timeoutMs: 60_000 });
const response = await transport.request({ method: 'GET', origin: `http://127.0.0.1:${port}`, path: '/object', headers: {} });
await serverFinished;
let received = 0;
let error: string | undefined;
try {
  await new Promise<void>((resolve, reject) => {
    const body = response.body;
    body.once('error', reject);
    body.once('end', resolve);
    const readOne = (): void => {
      const chunk = body.read(1024) as Buffer | null;
      if (chunk === null) {
        body.once('readable', readOne);
        return;
      }
      received += chunk.length;
      setImmediate(readOne);
    };
    readOne();
  });
} catch (caught) {
  error = (caught as { code?: string }).code ?? String(caught);
}
transport.close();
server.close();
process.stdout.write(JSON.stringify({ received, error }));

/**
 * undici 7's HTTP/1 client crashes the process when a server closes a connection it does not keep
 * alive (`Connection: close`, HTTP/1.0) while the answer's body is paused by backpressure (a reader
 * slower than the network): the socket's 'end' handler calls `Parser.finish()`, which asserts that the
 * parser is not paused (undici issue #5360). undici 8 fixes it (pull requests #5389, #5474) but needs
 * Node 22; datalake supports Node 20, so the bundle carries that fix: `finish()` first drives a paused
 * parser through what the socket still holds — the body's stream buffers what it is given — so the
 * answer completes, or, cut short, fails as before (a short Content-Length is a mismatch error).
 * Remove this plugin when Node 20 support ends and datalake moves to undici 8.
 */
import { readFile } from 'node:fs/promises';
import type { Plugin } from 'esbuild';

const CLIENT_H1 = /[\\/]node_modules[\\/]undici[\\/]lib[\\/]dispatcher[\\/]client-h1\.js$/;

/** The start of undici 7's `Parser.finish()`, exactly as it reads in the version this patch was written for. */
const FINISH_START = `  finish () {
    assert(currentParser === null)
    assert(this.ptr != null)
    assert(!this.paused)
`;

const PATCHED_FINISH_START = `  finish () {
    assert(currentParser === null)
    assert(this.ptr != null)

    // datalake: undici issue #5360, fixed in undici 8 (#5474). The socket ended while backpressure
    // paused the parser. The body's stream keeps what it is given, so parse what is left, resuming
    // across pauses: a body of known length completes here; one delimited by the end, and one cut
    // short, are settled by llhttp_finish below.
    if (this.paused) {
      let chunk = EMPTY_BUF
      do {
        this.llhttp.llhttp_resume(this.ptr)
        this.paused = false
        this.execute(chunk)
      } while (this.paused && !this.socket.destroyed && (chunk = this.socket.read()) !== null)
      if (this.socket.destroyed) {
        return null
      }
      if (this.paused) {
        this.llhttp.llhttp_resume(this.ptr)
        this.paused = false
      }
    }
`;

/** Replaces the start of `Parser.finish()`; the build fails if the text it replaces is not there once. */
export function patchedClientH1(source: string): string {
  const at = source.indexOf(FINISH_START);
  if (at < 0 || source.indexOf(FINISH_START, at + 1) >= 0) {
    throw new Error("undici's lib/dispatcher/client-h1.js no longer reads as the paused-parser patch expects (scripts/undici-h1-patch.ts): check whether the new undici fixes issue #5360 and update or remove the patch");
  }
  return source.slice(0, at) + PATCHED_FINISH_START + source.slice(at + FINISH_START.length);
}

/** esbuild plugin: bundles undici's client-h1.js patched; a build that bundles undici without patching it fails. */
export const undiciPausedParserPatch: Plugin = {
  name: 'undici-paused-parser-patch',
  setup(builder) {
    let patched = false;
    let bundledUndici = false;
    builder.onLoad({ filter: /[\\/]node_modules[\\/]undici[\\/].*\.js$/ }, async (args) => {
      bundledUndici = true;
      if (!CLIENT_H1.test(args.path)) return undefined;
      patched = true;
      return { contents: patchedClientH1(await readFile(args.path, 'utf8')), loader: 'js' };
    });
    builder.onEnd((result) => {
      if (bundledUndici && !patched && result.errors.length === 0) {
        throw new Error('undici was bundled without lib/dispatcher/client-h1.js: the paused-parser patch (scripts/undici-h1-patch.ts) was not applied');
      }
    });
  },
};

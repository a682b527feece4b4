import cliProgress from 'cli-progress';
import type { TransferEvents } from '../core/events.js';
import { formatBytes } from '../core/units.js';

/**
 * One bar on stderr for the whole command: bytes moved of bytes known, and files finished. Only on a
 * terminal; a subscriber to the engine's events like the log and the summary.
 */
export function showProgress(events: TransferEvents): () => void {
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: ' {bar} {percentage}% | {done}/{total_files} files | {moved} of {known} | {speed}/s',
      hideCursor: true,
      clearOnComplete: true,
      fps: 5,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let bytesKnown = 0;
  let bytesMoved = 0;
  let files = 0;
  let done = 0;
  let active = false;
  const render = () => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    const payload = { done, total_files: files, moved: formatBytes(bytesMoved), known: formatBytes(bytesKnown), speed: formatBytes(Math.round(bytesMoved / seconds)) };
    if (!active) {
      bar.start(Math.max(bytesKnown, 1), bytesMoved, payload);
      active = true;
    } else {
      bar.setTotal(Math.max(bytesKnown, 1));
      bar.update(bytesMoved, payload);
    }
  };
  events.on('transfer:start', (e) => {
    files += 1;
    bytesKnown += e.size ?? 0;
    render();
  });
  events.on('transfer:progress', (e) => {
    bytesMoved += e.bytes;
    render();
  });
  events.on('transfer:done', () => {
    done += 1;
    render();
  });
  return () => {
    if (active) bar.stop();
  };
}

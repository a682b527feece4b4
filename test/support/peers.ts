import { findPeers } from '../../scripts/lib/peers.js';

/**
 * The path of another S3 tool the tests run beside datalake (installed by `npm test`'s pretest step,
 * scripts/lib/peers.ts). A missing one fails the test that needs it, loudly: it is never skipped.
 */
export function peerTool(name: 'rclone' | 's5cmd'): string {
  const path = findPeers()[name];
  if (!path) throw new Error(`${name} is not installed: run \`npx tsx scripts/test-tools.ts\` (npm test's pretest step installs it)`);
  return path;
}

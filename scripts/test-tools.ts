/** `npm test` runs this first: everything the suite needs that npm does not install. */
import { installMinio } from './lib/minio.js';
import { installPythonTools } from './lib/python-tools.js';
import { installSeaweedfs } from './lib/seaweedfs.js';
import { installDebianPackages } from './lib/debian-packages.js';
import { installNode24 } from './lib/node24.js';
import { installTestPeers } from './lib/peers.js';

try {
  installMinio();
  installSeaweedfs();
  installPythonTools();
  await installDebianPackages();
  // rclone (Debian's package) and s5cmd (built with Go): the tests download what they uploaded.
  await installTestPeers();
  // The suite's second leg runs on Node.js 24 (scripts/test-node24.ts).
  installNode24();
  // The presigned-URL tests fetch URLs as a user would, with curl.
  const { spawnSync } = await import('node:child_process');
  if (spawnSync('curl', ['--version']).status !== 0) throw new Error('curl is needed by the presign tests: apt-get install curl');
} catch (error) {
  console.error(`test tools: ${(error as Error).message}`);
  process.exit(1);
}

/** `npm test` runs this first: everything the suite needs that npm does not install. */
import { installMinio } from './lib/minio.js';
import { installPythonTools } from './lib/python-tools.js';

try {
  installMinio();
  installPythonTools();
} catch (error) {
  console.error(`test tools: ${(error as Error).message}`);
  process.exit(1);
}

import { defineConfig } from 'vitest/config';
import { SERVERS } from './test/support/servers.js';

// One project for the unit tests, and one per S3 server (test/support/servers.ts): each server's
// project starts that server in its global setup and runs the integration files listed for it.
// `npx vitest run --project seaweedfs` runs the suite against one server only; `--project unit`
// (`npm run test:unit`) starts no server and needs no build.
export default defineConfig({
  test: {
    reporters: ['default', './test/support/closing-line-reporter.ts'],
    testTimeout: 180_000,
    hookTimeout: 600_000,
    pool: 'forks',
    // Two cores: two test files at a time across all projects, each spawning the CLI against its server.
    maxWorkers: 2,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      ...SERVERS.map((server) => ({
        extends: true as const,
        test: {
          name: server.name,
          include: server.files === 'all' ? ['test/integration/**/*.test.ts'] : server.files.map((file) => `test/integration/${file}.test.ts`),
          globalSetup: ['test/support/global-setup.ts'],
        },
      })),
    ],
  },
});

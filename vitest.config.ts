import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Issue 15's acceptance tests, not passing yet: `npm run test:acceptance` runs them (vitest.acceptance.config.ts).
    exclude: [...configDefaults.exclude, 'test/acceptance/**'],
    globalSetup: ['test/support/global-setup.ts'],
    reporters: ['default', './test/support/closing-line-reporter.ts'],
    testTimeout: 180_000,
    hookTimeout: 600_000,
    pool: 'forks',
    // Two cores: two test files at a time, each spawning the CLI against the one MinIO.
    maxWorkers: 2,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});

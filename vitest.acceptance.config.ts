import { defineConfig } from 'vitest/config';

/**
 * Acceptance tests of issue 15 (AWS configuration, proxy, CA bundle, clock skew, time limits): they
 * state the behaviour the issue asks for and most fail on today's code, so `npm test` leaves them out
 * until the implementation lands. Each file starts the real components it needs (test/support/testbed.ts).
 */
export default defineConfig({
  test: {
    include: ['test/acceptance/**/*.test.ts'],
    // Issue 15's tests all pass now and live in the regular suite: the folder may be empty.
    passWithNoTests: true,
    reporters: ['default', './test/support/closing-line-reporter.ts'],
    testTimeout: 180_000,
    hookTimeout: 600_000,
    pool: 'forks',
    maxWorkers: 1,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});

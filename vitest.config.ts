import { defineConfig } from 'vitest/config';

// The project's own tests (unit, property, self-tests of the catalog and harness). Conformance runs
// use harness/vitest/ instead, driven by `vmcts run`.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    reporters: ['default', './test/support/summary-line-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});

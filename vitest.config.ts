import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/helpers/global-setup.ts'],
    pool: 'forks',
    // A ceiling for a hung test, not a speed check: on a loaded machine (two suites at once, load ~30
    // on two cores) a test that starts real processes can need more than a minute and is still right.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Tests spawn servers and workers of their own; more parallel files than cores only adds noise.
    maxWorkers: 2,
  },
});

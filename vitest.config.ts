import { defineConfig } from 'vitest/config';

// Three tiers, one runner: unit (pure code), integration (real pcscd, SQLite, SoftHSM),
// browser (real UI in Debian's Chromium over the real services). Integration and browser
// tests share one pcscd per machine, so files run one at a time in those tiers.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // Password hashing (scrypt) and the contract fuzz are CPU-bound: under a loaded machine
          // they passed the 5 s default and failed a run with nothing wrong. A hang still fails.
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          // With OTAC_TEST_ENGINE=postgres: one throwaway cluster for the run (test-engine.ts).
          globalSetup: ['test/support/pg-global-setup.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/support/pg-global-setup.ts'],
          fileParallelism: false,
          testTimeout: 90_000,
          hookTimeout: 90_000,
        },
      },
    ],
  },
});

// Jest runs the TypeScript sources through ts-jest, transpiling only (type checking is
// `npm run typecheck`). No native transformer: the registries CI uses serve no platform binaries.
// The integration suites run twice: once with Express 5 and once with `express` mapped to
// the `express4` alias, so the library itself resolves Express 4 as its peer there.
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }] };
const common = {
  testEnvironment: 'node',
  transform,
  globalSetup: '<rootDir>/__tests__/helpers/global-setup.ts',
  globalTeardown: '<rootDir>/__tests__/helpers/global-teardown.ts',
};

module.exports = {
  testTimeout: 30000,
  // No forceExit: every suite closes what it opens, and jest exiting by itself is how a handle left
  // open (by a test, or by a close() in lib/ that does not close everything) shows.
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/__tests__/unit/**/*.test.ts'] },
    { ...common, displayName: 'contract', testMatch: ['<rootDir>/__tests__/contract/**/*.test.ts'] },
    { ...common, displayName: 'express5', testMatch: ['<rootDir>/__tests__/integration/**/*.test.ts'] },
    {
      ...common,
      displayName: 'express4',
      testMatch: ['<rootDir>/__tests__/integration/**/*.test.ts'],
      moduleNameMapper: { '^express$': 'express4' },
      // The built CLI and package entry points (and the fault tests, which run the CLI) do not depend
      // on the host's Express version.
      testPathIgnorePatterns: ['/node_modules/', 'cli-and-package', 'faults'],
    },
    // The example app's demo page in headless Chromium (/usr/bin/chromium; .ci/run installs it).
    { ...common, displayName: 'browser', testMatch: ['<rootDir>/__tests__/browser/**/*.test.ts'] },
  ],
};

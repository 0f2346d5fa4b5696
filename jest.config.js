// Jest runs the TypeScript sources through SWC (type checking is `npm run typecheck`).
// The integration suites run twice: once with Express 5 and once with `express` mapped to
// the `express4` alias, so the library itself resolves Express 4 as its peer there.
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };
const common = {
  testEnvironment: 'node',
  transform,
  globalSetup: '<rootDir>/__tests__/helpers/global-setup.ts',
  globalTeardown: '<rootDir>/__tests__/helpers/global-teardown.ts',
};

module.exports = {
  testTimeout: 30000,
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
  ],
};

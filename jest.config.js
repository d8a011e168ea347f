const esmToCjs = require('./test/helpers/esm-to-cjs');

/** @type {import('jest').Config} */
module.exports = {
  globalSetup: '<rootDir>/test/helpers/esm-to-cjs.js',
  moduleNameMapper: esmToCjs.moduleNameMapper,
  testEnvironment: '<rootDir>/test/helpers/environment.js',
  roots: ['<rootDir>/test', '<rootDir>/src'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true, diagnostics: false }] },
  testTimeout: 60000,
  maxWorkers: 2,
};

// Two suites: unit (no Docker, Pulumi mocks) and e2e (real Docker, real Slurm).
const transform = { "^.+\\.ts$": "ts-jest" };
module.exports = {
  reporters: ["default", "<rootDir>/tests/summary-reporter.js"],
  projects: [
    {
      displayName: "unit",
      testEnvironment: "node",
      transform,
      // A test's first program run also type-checks the whole program (ts-jest): on a loaded 2-core
      // machine that alone passed jest's 5 s default, and a timed-out run then disturbed the next tests.
      testTimeout: 60_000,
      testMatch: ["<rootDir>/tests/unit/**/*.test.ts"],
    },
    {
      displayName: "e2e",
      testEnvironment: "node",
      transform,
      testMatch: ["<rootDir>/tests/e2e/**/*.test.ts"],
      slowTestThreshold: 120,
    },
  ],
};

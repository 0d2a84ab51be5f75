// Two suites: unit (no Docker, Pulumi mocks) and e2e (real Docker, real Slurm).
const transform = { "^.+\\.ts$": "ts-jest" };
module.exports = {
  reporters: ["default", "<rootDir>/tests/summary-reporter.js"],
  testSequencer: "<rootDir>/tests/sequencer.js",
  projects: [
    {
      displayName: "unit",
      testEnvironment: "node",
      transform,
      setupFilesAfterEnv: ["<rootDir>/tests/unit/setup.ts"],
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

// `npm run local:up|local:down|local:output|local:preview`: the local runner (local-runner/cli.ts)
// from the build when current, else its sources (cli/launch.js). Compiled, it starts ~1.4 s sooner.
/* eslint-disable @typescript-eslint/no-require-imports */
require("../cli/launch").launch("local-runner/cli", "local runner");

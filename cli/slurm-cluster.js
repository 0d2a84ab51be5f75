#!/usr/bin/env node
// `npx slurm-cluster <command>` from the checkout: the CLI from its build when current, else its
// sources (cli/launch.js).
/* eslint-disable @typescript-eslint/no-require-imports */
const { launch } = require("./launch");

launch("cli/main", "slurm-cluster")
  .main(process.argv.slice(2))
  .then((code) => process.exit(code));

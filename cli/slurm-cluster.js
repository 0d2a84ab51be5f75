#!/usr/bin/env node
// `npx slurm-cluster <command>` from the checkout: runs cli/main.ts through ts-node (type checks
// are `npm run lint`'s job, so transpiling only keeps every command quick to start).
/* eslint-disable @typescript-eslint/no-require-imports */
const path = require("path");
require("ts-node").register({ transpileOnly: true, project: path.join(__dirname, "..", "tsconfig.json") });
const { main } = require("./main.ts");
main(process.argv.slice(2)).then((code) => process.exit(code));

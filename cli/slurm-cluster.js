#!/usr/bin/env node
// `npx slurm-cluster <command>` from the checkout. Runs the CLI's build (dist/, compiled by the
// prepare script that `npm ci` runs, or by `npm run build:cli`) when it is at least as new as the
// TypeScript it was compiled from; otherwise runs the sources through ts-node (type checks are
// `npm run lint`'s job either way), saying so in one line when stderr is a terminal.
/* eslint-disable @typescript-eslint/no-require-imports */
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");
const dist = path.join(root, "dist");

/** Why the build cannot be run, or "" when it can: every compiled file beside a source no newer than it. */
function buildProblem() {
  if (!fs.existsSync(path.join(dist, "cli", "main.js"))) return "no build in dist/";
  const compiled = (dir) =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const file = path.join(dir, e.name);
      if (e.isDirectory()) return compiled(file);
      return e.name.endsWith(".js") ? [file] : [];
    });
  for (const js of compiled(dist)) {
    const source = path.join(root, path.relative(dist, js)).replace(/\.js$/, ".ts");
    const sourceTime = fs.statSync(source, { throwIfNoEntry: false })?.mtimeMs;
    if (sourceTime === undefined) return `${path.relative(root, source)} is gone`;
    if (sourceTime > fs.statSync(js).mtimeMs) return `${path.relative(root, source)} is newer than the build`;
  }
  return "";
}

const problem = buildProblem();
let main;
if (problem) {
  if (process.stderr.isTTY) process.stderr.write(`slurm-cluster: running the TypeScript sources through ts-node (${problem}; npm run build:cli compiles it)\n`);
  require("ts-node").register({ transpileOnly: true, project: path.join(root, "tsconfig.json") });
  main = require("./main.ts").main;
} else {
  main = require(path.join(dist, "cli", "main.js")).main;
}
main(process.argv.slice(2)).then((code) => process.exit(code));

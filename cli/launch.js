// Loads one of the project's entry points (the CLI, the local runner) from the build in dist/
// (compiled by the prepare script that `npm ci` runs, or by `npm run build:cli`) when every
// compiled file is at least as new as the TypeScript it came from; otherwise from the sources
// through ts-node (type checks are `npm run lint`'s job either way), saying so in one line when
// stderr is a terminal. The build holds the runner and the Pulumi program it runs in-process, so a
// process never mixes compiled files with sources.
/* eslint-disable @typescript-eslint/no-require-imports */
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");
const dist = path.join(root, "dist");

/** Why the build cannot be run, or "" when it can: the entry compiled, every compiled file beside a source no newer than it. */
function buildProblem(entry) {
  if (!fs.existsSync(path.join(dist, `${entry}.js`))) return "no build in dist/";
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

/** Requires `entry` (a path from the project root, without extension) from dist/ or, failing that, its TypeScript source. */
function launch(entry, name) {
  const problem = buildProblem(entry);
  if (!problem) return require(path.join(dist, `${entry}.js`));
  if (process.stderr.isTTY) process.stderr.write(`${name}: running the TypeScript sources through ts-node (${problem}; npm run build:cli compiles them)\n`);
  require("ts-node").register({ transpileOnly: true, project: path.join(root, "tsconfig.json") });
  return require(path.join(root, `${entry}.ts`));
}

module.exports = { launch, buildProblem };

// npm run local:up -- <stack> [-c key=value ...] [--show-secrets]
// npm run local:down -- <stack> [--volumes]
// npm run local:output -- <stack> [--show-secrets]
// Stands in for `pulumi up` / `pulumi destroy` / `pulumi stack output --json` where the Pulumi CLI
// cannot be installed: see tests/engine/engine.ts.
import { down, lastOutputs, up } from "./engine";
import { printableOutputs } from "./program";

async function main(argv: string[]): Promise<void> {
  const [command, stack, ...rest] = argv;
  if (!command || !stack || stack.startsWith("-")) {
    throw new Error("usage: cli.ts up|down|output <stack> [-c key=value ...] [--show-secrets] [--volumes]");
  }
  const overrides: string[] = [];
  const flags = new Set<string>();
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "-c" || rest[i] === "--config") overrides.push(rest[++i] ?? "");
    else if (rest[i].startsWith("--")) flags.add(rest[i]);
    else throw new Error(`unexpected argument ${rest[i]}`);
  }
  const known = { up: ["--show-secrets"], down: ["--volumes"], output: ["--show-secrets"] }[command];
  if (!known) throw new Error(`unknown command ${command}; use up, down or output`);
  for (const f of flags) if (!known.includes(f)) throw new Error(`${command} does not take ${f}`);

  if (command === "up") {
    const result = await up(stack, { overrides });
    process.stderr.write(`[local:${stack}] up in ${result.seconds.toFixed(1)}s\n`);
    process.stdout.write(JSON.stringify(printableOutputs(result.outputs, flags.has("--show-secrets")), null, 4) + "\n");
  } else if (command === "down") {
    await down(stack, { volumes: flags.has("--volumes") });
  } else {
    process.stdout.write(JSON.stringify(lastOutputs(stack, flags.has("--show-secrets")), null, 4) + "\n");
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(1);
  },
);

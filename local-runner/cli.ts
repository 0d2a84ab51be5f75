// npm run local:up -- <stack> [-c key=value ...] [--refresh] [--show-secrets] [--continue-on-error]
// npm run local:preview -- <stack> [-c key=value ...]
// npm run local:down -- <stack> [--volumes]
// npm run local:output -- <stack> [--show-secrets]
// Stands in for `pulumi up [--refresh]`, `pulumi preview`, `pulumi destroy` and
// `pulumi stack output --json` where the Pulumi CLI cannot be installed: see engine.ts.
import { down, lastOutputs, preview, up } from "./engine";
import { printableOutputs } from "./program";
import { parseStackArgs } from "./stack-config";

const FLAGS: Record<string, string[]> = {
  up: ["--show-secrets", "--refresh", "--continue-on-error"],
  preview: [],
  down: ["--volumes"],
  output: ["--show-secrets"],
};

async function main(argv: string[]): Promise<void> {
  const [command, stack, ...rest] = argv;
  if (!command || !stack || stack.startsWith("-")) {
    throw new Error("usage: cli.ts up|preview|down|output <stack> [-c key=value ...] [--refresh] [--show-secrets] [--continue-on-error] [--volumes]");
  }
  const known = FLAGS[command];
  if (!known) throw new Error(`unknown command ${command}; use up, preview, down or output`);
  const { overrides, flags } = parseStackArgs(rest, true);
  for (const f of flags) if (!known.includes(f)) throw new Error(`${command} does not take ${f}`);

  if (command === "up") {
    const result = await up(stack, { overrides, refresh: flags.has("--refresh"), continueOnError: flags.has("--continue-on-error") });
    process.stderr.write(`[local:${stack}] up in ${result.seconds.toFixed(1)}s\n`);
    process.stdout.write(JSON.stringify(printableOutputs(result.outputs, flags.has("--show-secrets")), null, 4) + "\n");
  } else if (command === "preview") {
    const plan = await preview(stack, { overrides });
    const c = plan.counts;
    process.stdout.write(
      `Previewing update of stack ${stack} (local runner):\n` +
        plan.changes.map((line) => `    ${line}\n`).join("") +
        `Resources: ${c.create} to create, ${c.update} to update, ${c.replace} to replace, ${c.delete} to delete, ${c.same} unchanged\n`,
    );
  } else if (command === "down") {
    await down(stack, { volumes: flags.has("--volumes"), overrides });
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

// The stack outputs the CLI reads are parsed with the schema the stacks produce them from: a stack
// that grows, loses or retypes an output fails here (and does not compile: stacks/ check their return type).
import { CLUSTER_OUTPUTS_SCHEMA, STACK_OUTPUTS_SCHEMA, WORKERS_OUTPUTS_SCHEMA } from "../../config/stack-outputs";
import { printableOutputs } from "../../local-runner/program";
import { runWithMocks } from "./harness";

async function outputsOf(stack: string, overrides: string[] = []): Promise<Record<string, unknown>> {
  const run = await runWithMocks(stack, overrides);
  expect(run.error).toBeUndefined();
  // As the CLI gets them: `pulumi stack output --json --show-secrets`.
  return printableOutputs(run.outputs as never, true) as Record<string, unknown>;
}

describe("the stack outputs contract", () => {
  it.each([
    ["ubuntu", [], CLUSTER_OUTPUTS_SCHEMA],
    ["ubuntu", ["grafana=false"], CLUSTER_OUTPUTS_SCHEMA],
    ["ubuntu", ["monitoring=false"], CLUSTER_OUTPUTS_SCHEMA],
    ["qnap", [], WORKERS_OUTPUTS_SCHEMA],
  ] as const)("stack %s %j produces exactly what the schema says", async (stack, overrides, schema) => {
    const outputs = await outputsOf(stack, [...overrides]);
    const parsed = schema.safeParse(outputs);
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
    expect(STACK_OUTPUTS_SCHEMA.safeParse(outputs).success).toBe(true);
  }, 60_000);

  it("fails on an output the schema does not know, one it misses, or one of another type", async () => {
    const outputs = await outputsOf("ubuntu");
    expect(CLUSTER_OUTPUTS_SCHEMA.safeParse({ ...outputs, extra: 1 }).success).toBe(false);
    const { rest: _rest, ...missing } = outputs;
    expect(CLUSTER_OUTPUTS_SCHEMA.safeParse(missing).success).toBe(false);
    expect(CLUSTER_OUTPUTS_SCHEMA.safeParse({ ...outputs, nodes: [{ name: "worker1" }] }).success).toBe(false);
  }, 60_000);
});

// The ubuntu stack through the real Pulumi CLI and providers (Automation API), where a `pulumi`
// binary is on PATH. The build machine cannot download the CLI or its plugins, so there this
// suite is skipped and says so; everything else in tests/e2e runs through the local runner.
import * as fs from "fs";
import { Stack } from "@pulumi/pulumi/automation";
import { pulumiCliStack, pulumiOnPath } from "../../local-runner/pulumi-cli";
import { NO_GRAFANA, dockerExec, npmRun } from "./helpers";

const STACK = "ubuntu";
const cli = pulumiOnPath();
jest.setTimeout(20 * 60 * 1000);

if (!cli) {
  test.skip("the real Pulumi CLI (skipped: no pulumi binary on PATH; the CLI and its plugins cannot be downloaded here)", () => {});
  process.stderr.write("pulumi-cli.test.ts: skipped, no pulumi binary on PATH\n");
} else {
  let stack: Stack;
  let dir: string;
  beforeAll(async () => {
    npmRun("local:down", [STACK, "--volumes"]); // the local runner's containers share the names
    ({ stack, dir } = await pulumiCliStack(STACK, [NO_GRAFANA[1]]));
  });
  afterAll(async () => {
    await stack?.destroy({ onOutput: (s) => process.stderr.write(s) }).catch(() => undefined);
    npmRun("local:down", [STACK, "--volumes"]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test("pulumi up registers every node, a job runs, and a second preview changes nothing", async () => {
    const up = await stack.up({ onOutput: (s) => process.stderr.write(s) });
    const nodes = up.outputs.nodes.value as { name: string; state: string }[];
    expect(nodes.map((n) => n.state)).toEqual(["IDLE", "IDLE"]);
    const ctl = up.outputs.controller.value.containerName as string;
    expect(dockerExec(ctl, ["srun", "-N2", "hostname"]).trim().split("\n").sort()).toEqual(["worker1", "worker2"]);
    const preview = await stack.preview();
    expect(preview.changeSummary).toEqual({ same: expect.any(Number) });
  });
}

// What `slurm-cluster up` and `outputs` print: secrets masked at any depth on both paths, from the
// shapes each path really hands over (the Automation API's { value, secret } per top-level output
// with the stack's exported state; the local runner's state with { secret } leaves), and what
// the commands that only read a cluster load.
import { spawnSync } from "child_process";
import * as path from "path";
import * as engine from "../../local-runner/engine";
import { LocalRunner, stackOutputs } from "../../cli/stacks";
import { exportedStackOutputs, maskedOutputs } from "../../cli/secret-outputs";
import { PROJECT_ROOT } from "../../config/project";

// Pulumi's marker of a secret in exported state (the SDK's specialSigKey: specialSecretSig).
const SECRET = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", ciphertext: "v1:AAAA" };

/** What `Stack.outputs()` gives: plain values; `secret` is true only for an output that is secret as a whole. */
const automationOutputs = {
  clusterName: { value: "hpc", secret: false },
  database: { value: { host: "database", user: "slurm", password: "db-password-1" }, secret: false },
  join: { value: { controllerHost: "controller", mungeKeyBase64: "bXVuZ2Uta2V5", nodes: [{ name: "worker1", token: "node-token-1" }] }, secret: false },
  grafanaPassword: { value: "grafana-password-1", secret: true },
};
/** What `Stack.exportStack()` gives for the same stack: every secret marked where it sits. */
const exported = {
  version: 3,
  deployment: {
    resources: [
      { urn: "urn:pulumi:ubuntu::slurm-cluster::pulumi:providers:docker::default", type: "pulumi:providers:docker" },
      {
        urn: "urn:pulumi:ubuntu::slurm-cluster::pulumi:pulumi:Stack::slurm-cluster-ubuntu",
        type: "pulumi:pulumi:Stack",
        outputs: {
          clusterName: "hpc",
          database: { host: "database", user: "slurm", password: SECRET },
          join: { controllerHost: "controller", mungeKeyBase64: SECRET, nodes: [{ name: "worker1", token: SECRET }] },
          grafanaPassword: SECRET,
        },
      },
    ],
  },
};
const SECRETS = ["db-password-1", "bXVuZ2Uta2V5", "node-token-1", "grafana-password-1"];

const fakeStack = { setConfig: jest.fn(), outputs: jest.fn(async () => automationOutputs), exportStack: jest.fn(async () => exported) };
jest.mock("@pulumi/pulumi/automation", () => ({ LocalWorkspace: { createOrSelectStack: jest.fn(async () => fakeStack) } }));

jest.mock("../../local-runner/state", () => ({
  ...jest.requireActual("../../local-runner/state"),
  loadState: () => ({
    version: 2,
    resources: {},
    outputs: {
      clusterName: "hpc",
      database: { host: "database", user: "slurm", password: { secret: "db-password-1" } },
      join: { secret: { controllerHost: "controller", mungeKeyBase64: "bXVuZ2Uta2V5" } },
      nodes: [{ name: "worker1", token: { secret: "node-token-1" } }],
    },
  }),
}));

describe("secret outputs", () => {
  it("are masked at any depth on the Automation API path, as `pulumi stack output --json` masks them", async () => {
    const printed = await stackOutputs("ubuntu", false, "pulumi");
    expect(printed).toEqual({
      clusterName: "hpc",
      database: { host: "database", user: "slurm", password: "[secret]" },
      join: { controllerHost: "controller", mungeKeyBase64: "[secret]", nodes: [{ name: "worker1", token: "[secret]" }] },
      grafanaPassword: "[secret]",
    });
    for (const secret of SECRETS) expect(JSON.stringify(printed)).not.toContain(secret);
  });

  it("are shown with --show-secrets on the Automation API path", async () => {
    const shown = JSON.stringify(await stackOutputs("ubuntu", true, "pulumi"));
    for (const secret of SECRETS) expect(shown).toContain(secret);
  });

  it("are all masked when the exported state has no stack outputs to tell them apart", () => {
    expect(exportedStackOutputs({ deployment: { resources: [] } })).toBeUndefined();
    expect(maskedOutputs(automationOutputs, undefined)).toEqual({ clusterName: "[secret]", database: "[secret]", join: "[secret]", grafanaPassword: "[secret]" });
  });

  it("are masked at any depth on the local runner's path", async () => {
    const printed = await stackOutputs("ubuntu", false, "local");
    expect(printed).toEqual({
      clusterName: "hpc",
      database: { host: "database", user: "slurm", password: "[secret]" },
      join: "[secret]",
      nodes: [{ name: "worker1", token: "[secret]" }],
    });
    for (const secret of SECRETS) expect(JSON.stringify(printed)).not.toContain(secret);
  });
});

describe("what a command loads", () => {
  /**
   * The packages under node_modules that `slurm-cluster <args>` (from its sources) has loaded when
   * it ends, and its stderr. The engine address leads nowhere, so no command reaches a Docker engine.
   */
  function packagesLoaded(args: string[]): { loaded: string[]; stderr: string } {
    const script = `require("ts-node").register({ transpileOnly: true });
      require("./cli/main.ts").main(process.argv.slice(1)).then(() => {
        const names = Object.keys(require.cache).map((f) => (/node_modules\\/((@[^/]+\\/)?[^/]+)/.exec(f) || [])[1]).filter(Boolean);
        process.stderr.write("LOADED " + JSON.stringify([...new Set(names)]) + "\\n");
      });`;
    const env = { ...process.env, SLURM_CLUSTER_RUNNER: "local", DOCKER_HOST: "unix:///nonexistent/docker.sock" };
    const res = spawnSync(process.execPath, ["-e", script, ...args], { cwd: PROJECT_ROOT, env, encoding: "utf8", timeout: 60000 });
    const line = res.stderr.split("\n").find((l) => l.startsWith("LOADED "));
    if (!line) throw new Error(`no LOADED line: ${res.stderr}`);
    return { loaded: JSON.parse(line.slice(7)), stderr: res.stderr.replace(line, "").trim() };
  }

  it("templates loads neither the Pulumi SDK nor dockerode nor mysql2", () => {
    const { loaded } = packagesLoaded(["templates"]);
    expect(loaded).toContain("cli-table3");
    expect(loaded.filter((p) => ["@pulumi/pulumi", "dockerode", "mysql2"].includes(p))).toEqual([]);
  }, 60000);

  it("nodes gets as far as the runner's state or the engine without loading the Pulumi SDK", () => {
    const { loaded, stderr } = packagesLoaded(["nodes"]);
    expect(stderr).toMatch(/^error: (stack ubuntu has no cluster|no Docker engine answers at unix:\/\/\/nonexistent\/docker.sock)/);
    expect(loaded).toContain("js-yaml"); // the stack's config was read
    expect(loaded).not.toContain("@pulumi/pulumi");
  }, 60000);

  it("the local runner's engine is what the CLI calls it as", () => {
    const runner: LocalRunner = engine;
    expect(typeof runner.up).toBe("function");
    expect(path.basename(PROJECT_ROOT)).not.toBe("dist");
  });
});

// The local runner's own rules, no Docker: if these are wrong, every e2e result means nothing.
// Each row of the provider table is pinned against what the providers' source says.
import { spawnSync } from "child_process";
import Docker from "dockerode";
import { DockerResources, durationNs } from "../../local-runner/docker-resources";
import { stackReference, unwrapSecrets } from "../../local-runner/engine";
import { changedInputs, deletionOrder, describeStep, planStep } from "../../local-runner/plan";
import { RESOURCE_BEHAVIOUR, inputEffect } from "../../local-runner/provider-table";
import { PROJECT_ROOT, printableOutputs } from "../../local-runner/program";
import { readStackConfig, saveConfigOverrides } from "../../local-runner/stack-config";
import { StateResource, keyFromUrn, removeState, saveState } from "../../local-runner/state";
import { resolveDockerHost } from "../../config/host";

const CONTAINER = "docker:index/container:Container";

function inState(type: string, inputs: Record<string, unknown>, extra: Partial<StateResource> = {}): StateResource {
  return { type, name: "r", id: "id-1", inputs, outputs: inputs, dependencies: [], ...extra };
}

describe("provider table", () => {
  // [type, input, effect]: from the Terraform docker provider's schema (ForceNew) and its
  // resourceDockerContainerUpdate, pulumi-docker's Image provider, and pulumi-random.
  const ROWS: [string, string, string][] = [
    [CONTAINER, "memory", "update"],
    [CONTAINER, "memorySwap", "update"],
    [CONTAINER, "restart", "update"],
    [CONTAINER, "cpuShares", "update"],
    [CONTAINER, "healthcheck", "ignored"],
    [CONTAINER, "tmpfs", "ignored"],
    [CONTAINER, "destroyGraceSeconds", "ignored"],
    [CONTAINER, "wait", "ignored"],
    [CONTAINER, "waitTimeout", "ignored"],
    [CONTAINER, "image", "replace"],
    [CONTAINER, "command", "replace"],
    [CONTAINER, "uploads", "replace"],
    [CONTAINER, "envs", "replace"],
    [CONTAINER, "labels", "replace"],
    [CONTAINER, "mounts", "replace"],
    [CONTAINER, "networksAdvanced", "replace"],
    [CONTAINER, "capabilities", "replace"],
    [CONTAINER, "stopSignal", "replace"],
    [CONTAINER, "ports", "replace"],
    [CONTAINER, "cgroupnsMode", "replace"],
    ["docker:index/network:Network", "labels", "replace"],
    ["docker:index/network:Network", "name", "replace"],
    ["docker:index/volume:Volume", "labels", "replace"],
    ["docker:index/image:Image", "build", "update"],
    ["docker:index/image:Image", "imageName", "update"],
    ["docker:index/remoteImage:RemoteImage", "name", "replace"],
    ["docker:index/remoteImage:RemoteImage", "keepLocally", "ignored"],
    ["random:index/randomBytes:RandomBytes", "length", "replace"],
    ["random:index/randomPassword:RandomPassword", "special", "replace"],
  ];
  it.each(ROWS)("%s: a change to %s is %s", (type, input, effect) => {
    expect(inputEffect(type, input)).toBe(effect);
  });

  it("deletes containers before creating their replacement, and named networks and volumes (autonaming), nothing else", () => {
    const dbr = Object.entries(RESOURCE_BEHAVIOUR).filter(([, b]) => b.deleteBeforeReplace).map(([t]) => t);
    expect(dbr).toEqual([CONTAINER]);
    const autonamed = Object.entries(RESOURCE_BEHAVIOUR).filter(([, b]) => b.autonamed).map(([t]) => t);
    expect(autonamed).toEqual(["docker:index/network:Network", "docker:index/volume:Volume"]);
  });

  it("refuses a resource type it has no row for", () => {
    expect(() => inputEffect("docker:index/service:Service", "name")).toThrow(/not implemented/);
  });
});

describe("planning one registration", () => {
  const old = inState(CONTAINER, { name: "c", image: "a", memory: 512, healthcheck: { tests: ["CMD", "true"] } });

  it("creates what state does not have", () => {
    expect(planStep(CONTAINER, undefined, { name: "c" }, {}).kind).toBe("create");
  });

  it("changes nothing when the inputs are the same, whatever Docker holds", () => {
    expect(planStep(CONTAINER, old, { ...old.inputs }, {})).toEqual({ kind: "same", changes: [], deleteBeforeReplace: true });
  });

  it("updates a container's memory in place", () => {
    expect(planStep(CONTAINER, old, { ...old.inputs, memory: 768 }, {})).toMatchObject({ kind: "update", changes: [{ input: "memory", effect: "update" }] });
  });

  it("records a healthcheck change without touching the container, unless replaceOnChanges names it", () => {
    const news = { ...old.inputs, healthcheck: { tests: ["CMD", "false"] } };
    expect(planStep(CONTAINER, old, news, {})).toMatchObject({ kind: "update", changes: [{ input: "healthcheck", effect: "ignored" }] });
    expect(planStep(CONTAINER, old, news, { replaceOnChanges: ["healthcheck"] })).toMatchObject({ kind: "replace", deleteBeforeReplace: true });
  });

  it("replaces on a ForceNew input, and a deleteBeforeReplace option overrides the provider's order", () => {
    expect(planStep(CONTAINER, old, { ...old.inputs, image: "b" }, {})).toMatchObject({ kind: "replace", deleteBeforeReplace: true });
    // The bridge's nameRequiresDeleteBeforeReplace: a name the program sets on an autonamed resource means delete first.
    const net = inState("docker:index/network:Network", { name: "n", labels: [] });
    expect(planStep("docker:index/network:Network", net, { name: "n2", labels: [] }, {})).toMatchObject({ kind: "replace", deleteBeforeReplace: true });
    const unnamed = inState("docker:index/volume:Volume", { labels: [] });
    expect(planStep("docker:index/volume:Volume", unnamed, { labels: [{ label: "a", value: "b" }] }, {})).toMatchObject({ kind: "replace", deleteBeforeReplace: false });
    expect(planStep("docker:index/volume:Volume", unnamed, { labels: [] , driver: "x" }, { deleteBeforeReplace: true }).deleteBeforeReplace).toBe(true);
  });

  it("starts a container that refresh found stopped (the provider's must_run), and retries a failed create", () => {
    expect(planStep(CONTAINER, { ...old, stopped: true }, { ...old.inputs }, {})).toMatchObject({ kind: "update", changes: [{ input: "mustRun", effect: "update" }] });
    expect(planStep(CONTAINER, { ...old, initErrors: true }, { ...old.inputs }, {}).kind).toBe("update");
  });

  it("compares values, not key order or absent-versus-undefined", () => {
    expect(changedInputs({ a: { x: 1, y: 2 }, b: undefined }, { a: { y: 2, x: 1 } })).toEqual([]);
    expect(changedInputs({ a: [1, 2] }, { a: [2, 1] })).toEqual(["a"]);
  });

  it("prints plan lines as pulumi preview does", () => {
    expect(describeStep("replace", CONTAINER, "w", [{ input: "image", effect: "replace" }])).toBe(`+-replace ${CONTAINER} w: image (forces replacement)`);
    expect(describeStep("update", CONTAINER, "w", [{ input: "memory", effect: "update" }])).toBe(`~ update  ${CONTAINER} w: memory`);
  });
});

describe("deletion order", () => {
  it("deletes dependents before what they depend on", () => {
    const all = {
      network: { dependencies: [] },
      volume: { dependencies: [] },
      controller: { dependencies: ["network", "volume"] },
      worker: { dependencies: ["controller", "network"] },
      check: { dependencies: ["worker"] },
    };
    const order = deletionOrder(Object.keys(all), all);
    const before = (a: string, b: string) => expect(order.indexOf(a)).toBeLessThan(order.indexOf(b));
    before("check", "worker");
    before("worker", "controller");
    before("controller", "network");
    before("controller", "volume");
    expect(order).toHaveLength(5);
  });

  it("orders only what is being deleted", () => {
    expect(deletionOrder(["worker3"], { worker3: { dependencies: ["controller"] }, controller: { dependencies: [] } })).toEqual(["worker3"]);
  });
});

describe("runner plumbing", () => {
  it("keys resources by type and name, also from a URN with parents", () => {
    expect(keyFromUrn("urn:pulumi:ubuntu::slurm-cluster::slurm-cluster:index:WorkerNode$docker:index/container:Container::worker1-slurmd")).toBe(
      `${CONTAINER}::worker1-slurmd`,
    );
  });

  it("reads Docker durations", () => {
    expect(durationNs("2s")).toBe(2e9);
    expect(durationNs("1m30s")).toBe(90e9);
    expect(durationNs("500ms")).toBe(5e8);
    expect(() => durationNs("2 seconds")).toThrow(/cannot read duration/);
  });

  it("prints secrets as [secret] unless asked, like `pulumi stack output --json`", () => {
    const outputs = { database: { user: "slurm", password: { secret: "pw" } }, nodes: [{ name: "worker1" }] };
    expect(printableOutputs(outputs, false)).toEqual({ database: { user: "slurm", password: "[secret]" }, nodes: [{ name: "worker1" }] });
    expect(printableOutputs(outputs, true)).toEqual({ database: { user: "slurm", password: "pw" }, nodes: [{ name: "worker1" }] });
  });

  it("unwraps secrets nested in provider inputs", () => {
    const wire = { uploads: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: [{ file: "/k", content: "x" }] } };
    expect(unwrapSecrets(wire)).toEqual({ uploads: [{ file: "/k", content: "x" }] });
  });

  it("layers project defaults, the stack file and -c overrides", () => {
    const config = readStackConfig("qnap", ["workerCount=4", "docker:host=tcp://nas:2375"]);
    expect(config["slurm-cluster:slurmRelease"]).toBe("24.11"); // Pulumi.yaml default
    expect(config["slurm-cluster:workerMemoryMb"]).toBe("512"); // Pulumi.qnap.yaml
    expect(config["slurm-cluster:workerCount"]).toBe("4"); // -c
    expect(config["docker:host"]).toBe("tcp://nas:2375");
    expect(() => readStackConfig("nosuch")).toThrow(/no stack "nosuch".*stacks: .*ubuntu/);
  });
});

describe("which Docker engine", () => {
  const none = () => false;
  it("takes docker:host, then DOCKER_HOST, then the default socket", () => {
    expect(resolveDockerHost("tcp://nas:2375", { DOCKER_HOST: "unix:///x" }, "linux", none)).toBe("tcp://nas:2375");
    expect(resolveDockerHost(undefined, { DOCKER_HOST: "unix:///x" }, "linux", none)).toBe("unix:///x");
    expect(resolveDockerHost(undefined, {}, "linux", none)).toBe("unix:///var/run/docker.sock");
  });

  it("finds Docker Desktop's per-user socket on macOS when the system socket is absent", () => {
    const desktopOnly = (p: string) => p === "/Users/ada/.docker/run/docker.sock";
    expect(resolveDockerHost(undefined, { HOME: "/Users/ada" }, "darwin", desktopOnly)).toBe("unix:///Users/ada/.docker/run/docker.sock");
    expect(resolveDockerHost(undefined, { HOME: "/Users/ada" }, "darwin", () => true)).toBe("unix:///var/run/docker.sock");
  });
});

describe("deleting a container, as the provider does", () => {
  // A stand-in engine that records the calls: the stop timeout is the point, not Docker.
  function recordingEngine() {
    const calls: string[] = [];
    const container = {
      stop: async (o: { t: number }) => void calls.push(`stop t=${o.t}`),
      remove: async (o: { force: boolean; v: boolean }) => void calls.push(`remove force=${o.force} v=${o.v}`),
      wait: async (o: { condition: string }) => {
        calls.push(`wait ${o.condition}`);
        throw Object.assign(new Error("No such container"), { statusCode: 404 });
      },
    };
    const docker = { getContainer: () => container } as unknown as Docker;
    return { calls, resources: new DockerResources(docker, () => undefined) };
  }

  it("stops with destroyGraceSeconds before removing", async () => {
    const { calls, resources } = recordingEngine();
    await resources.deleteContainer("id", { name: "c", destroyGraceSeconds: 30 });
    expect(calls).toEqual(["stop t=30", "remove force=true v=true", "wait not-running"]);
  });

  it("stops with a zero timeout when destroyGraceSeconds is unset, as pulumi-docker does", async () => {
    const { calls, resources } = recordingEngine();
    await resources.deleteContainer("id", { name: "c" });
    expect(calls).toEqual(["stop t=0", "remove force=true v=true", "wait not-running"]);
  });

  // resourceDockerContainerDelete: RemoveVolumes from remove_volumes (default true), Force, then ContainerWait.
  it("removes anonymous volumes unless removeVolumes is false, forcibly, and waits until the container is gone", async () => {
    const { calls, resources } = recordingEngine();
    await resources.deleteContainer("id", { name: "c", removeVolumes: false });
    expect(calls).toEqual(["stop t=0", "remove force=true v=false", "wait not-running"]);
  });
});

describe("a StackReference, answered from the other stack's saved outputs", () => {
  const other = "unit-stack-reference";
  afterEach(() => removeState(other));

  it("gives the outputs as `up` saved them, secrets in plain values with their names in secretOutputNames", () => {
    saveState(other, {
      version: 2,
      resources: {},
      outputs: { clusterName: "ubuntu", join: { controllerAddress: "192.0.2.1", mungeKeyBase64: { secret: "a2V5" } }, nodes: [{ name: "worker1" }] },
    });
    expect(stackReference(`org/slurm-cluster/${other}`, "qnap")).toEqual({
      id: `org/slurm-cluster/${other}`,
      state: {
        name: `org/slurm-cluster/${other}`,
        outputs: { clusterName: "ubuntu", join: { controllerAddress: "192.0.2.1", mungeKeyBase64: "a2V5" }, nodes: [{ name: "worker1" }] },
        secretOutputNames: ["join"],
      },
    });
  });

  it("gives no outputs for a stack that was never brought up, and refuses a stack referencing itself", () => {
    expect(stackReference(other, "qnap").state).toEqual({ name: other, outputs: {}, secretOutputNames: [] });
    expect(() => stackReference("qnap", "qnap")).toThrow(/a stack cannot reference itself/);
  });
});

describe("a run whose resources wait on a failed one", () => {
  it("ends with that failure once nothing else can happen, instead of leaving the process to exit silently", () => {
    // A child process: the end is Node's event loop running dry, which jest's own loop never lets happen.
    const res = spawnSync("npx", ["ts-node", "--transpile-only", "tests/unit/stalled-run.ts"], { cwd: PROJECT_ROOT, encoding: "utf8", timeout: 90_000 });
    const result = JSON.parse(res.stdout.trim().split("\n").pop()!);
    expect(result.errors).toEqual(expect.arrayContaining([expect.stringMatching(/6818 failed: port is already allocated/)]));
    expect(result.outputs).toEqual({});
  });
});

describe("-c key=value, saved as pulumi up -c saves it", () => {
  const fs = jest.requireActual("fs") as typeof import("fs");
  const os = jest.requireActual("os") as typeof import("os");
  const path = jest.requireActual("path") as typeof import("path");
  function project(stackText: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-config-"));
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: slurm-cluster\nconfig:\n  grafana:\n    default: true\n");
    fs.writeFileSync(path.join(dir, "Pulumi.s.yaml"), stackText);
    return dir;
  }

  it("writes each value into Pulumi.<stack>.yaml, keeping its comments, so later commands without -c use it", () => {
    const root = project("# my stack\nconfig:\n  slurm-cluster:workerCount: 2\n  # memory per worker\n  slurm-cluster:workerMemoryMb: 512\n");
    saveConfigOverrides("s", ["workerCount=3", "grafana=false", "docker:host=tcp://nas:2375"], root);
    const text = fs.readFileSync(path.join(root, "Pulumi.s.yaml"), "utf8");
    expect(text).toBe(
      "# my stack\nconfig:\n  slurm-cluster:workerCount: '3'\n  # memory per worker\n  slurm-cluster:workerMemoryMb: 512\n" +
        "  slurm-cluster:grafana: 'false'\n  docker:host: tcp://nas:2375\n",
    );
    expect(readStackConfig("s", [], root)).toMatchObject({ "slurm-cluster:workerCount": "3", "slurm-cluster:grafana": "false", "docker:host": "tcp://nas:2375" });
  });

  it("writes a multi-line value (users, accounts) as a block the next command reads back", () => {
    const root = project("config:\n  slurm-cluster:workerCount: 2\n");
    saveConfigOverrides("s", ["users=alice uid=1001 account=research\nbob uid=1002 account=physics", "workerCount=3"], root);
    expect(readStackConfig("s", [], root)).toMatchObject({
      "slurm-cluster:users": "alice uid=1001 account=research\nbob uid=1002 account=physics",
      "slurm-cluster:workerCount": "3",
    });
  });

  it.each([
    ["four spaces", "config:\n    slurm-cluster:workerCount: 2  # two to start\n    # memory per worker\n    slurm-cluster:workerMemoryMb: 512\n", "    "],
    ["three spaces", "config:\n   slurm-cluster:workerCount: 2  # two to start\n   # memory per worker\n   slurm-cluster:workerMemoryMb: 512\n", "   "],
  ])("keeps the file's indentation (%s) and its comments", (_what, text, pad) => {
    const root = project(text);
    saveConfigOverrides("s", ["workerCount=3", "grafana=false", "users=alice uid=1001\nbob uid=1002"], root);
    expect(fs.readFileSync(path.join(root, "Pulumi.s.yaml"), "utf8")).toBe(
      `config:\n${pad}slurm-cluster:workerCount: '3'  # two to start\n${pad}# memory per worker\n${pad}slurm-cluster:workerMemoryMb: 512\n` +
        `${pad}slurm-cluster:grafana: 'false'\n${pad}slurm-cluster:users: |-\n${pad}${pad}alice uid=1001\n${pad}${pad}bob uid=1002\n`,
    );
    expect(readStackConfig("s", [], root)).toEqual({
      "slurm-cluster:workerCount": "3",
      "slurm-cluster:workerMemoryMb": "512",
      "slurm-cluster:grafana": "false",
      "slurm-cluster:users": "alice uid=1001\nbob uid=1002",
    });
  });

  it("adds a config block to a file that has none, after what the file holds", () => {
    const root = project("# a new stack\nencryptionsalt: v1:abc\n");
    saveConfigOverrides("s", ["workerCount=3"], root);
    expect(fs.readFileSync(path.join(root, "Pulumi.s.yaml"), "utf8")).toBe("# a new stack\nencryptionsalt: v1:abc\nconfig:\n  slurm-cluster:workerCount: '3'\n");
  });

  it("replaces a multi-line value, and adds to a block that another top-level key follows", () => {
    const root = project("config:\n  slurm-cluster:users: |\n    alice uid=1001\n    bob uid=1002\n\n# the backend\nbackend: local\n");
    saveConfigOverrides("s", ["users=carol uid=1003", "workerCount=3"], root);
    expect(fs.readFileSync(path.join(root, "Pulumi.s.yaml"), "utf8")).toBe(
      "config:\n  slurm-cluster:users: carol uid=1003\n  slurm-cluster:workerCount: '3'\n\n# the backend\nbackend: local\n",
    );
  });

  it("refuses, writing nothing, a config it cannot edit line by line (a flow mapping)", () => {
    const root = project("config: { slurm-cluster:workerCount: 2 }\n");
    expect(() => saveConfigOverrides("s", ["workerCount=3"], root)).toThrow(/not a block mapping; set the value with pulumi config set or an editor/);
    expect(fs.readFileSync(path.join(root, "Pulumi.s.yaml"), "utf8")).toBe("config: { slurm-cluster:workerCount: 2 }\n");
  });

  it("writes nothing when an override is malformed", () => {
    const root = project("config:\n  slurm-cluster:workerCount: 2\n");
    expect(() => saveConfigOverrides("s", ["workerCount=4", "oops"], root)).toThrow(/-c oops: expected key=value/);
    expect(fs.readFileSync(path.join(root, "Pulumi.s.yaml"), "utf8")).toBe("config:\n  slurm-cluster:workerCount: 2\n");
  });
});

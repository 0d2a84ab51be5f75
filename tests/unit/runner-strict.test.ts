// The runner is never kinder than pulumi-docker and the Pulumi engine: each block is one row of
// the README's runner table, run through the runner's Deployment against an in-memory engine.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import Docker from "dockerode";
import { Clock, DockerResources, PROVIDER_REMOVAL_RETRY } from "../../local-runner/docker-resources";
import { Deployment, StepNotStartedError, failureReport } from "../../local-runner/engine";
import { RegistrationArgs, detailsOf } from "../../local-runner/program";
import { SavedState, removeState, resourceKey } from "../../local-runner/state";
import { FakeDocker } from "./fake-engine";
import { runWithMocks } from "./harness";

const STACK = "unit-runner-strict";
const CONTAINER = "docker:index/container:Container";
const NETWORK = "docker:index/network:Network";
const VOLUME = "docker:index/volume:Volume";
const DYNAMIC = "pulumi-nodejs:dynamic:Resource";

type Inputs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function registration(type: string, name: string, inputs: Inputs, details: Partial<RegistrationArgs["details"]> = {}): RegistrationArgs {
  return { type, name, inputs, custom: true, details: { dependencies: [], parent: "", replaceOnChanges: [], ignoreChanges: [], ...details } };
}

function deployment(state: SavedState, fake: FakeDocker, options: { continueOnError?: boolean; apply?: boolean } = {}): Deployment {
  return new Deployment(STACK, state, "tcp://fake:2375", () => undefined, options.apply ?? true, {
    continueOnError: options.continueOnError,
    docker: () => fake as unknown as Docker,
  });
}

/** A worker-like container, with every input refresh reads back. */
function worker(name = "w1", extra: Inputs = {}): Inputs {
  return {
    name,
    hostname: name,
    image: "slurm:abc",
    command: ["worker"],
    restart: "unless-stopped",
    memory: 512,
    memorySwap: 512,
    capabilities: { adds: ["SYS_ADMIN"] },
    securityOpts: ["seccomp=unconfined"],
    ulimits: [{ name: "nproc", soft: 4096, hard: 4096 }],
    mounts: [{ type: "volume", source: "state", target: "/var/spool/slurm" }],
    tmpfs: { "/run": "rw" },
    ports: [{ internal: 6818, external: 16818, ip: "127.0.0.1" }],
    healthcheck: { tests: ["CMD", "true"], interval: "2s", timeout: "5s", retries: 30 },
    networksAdvanced: [{ name: "net", aliases: [name] }],
    envs: ["A=1"],
    labels: [{ label: "app", value: "slurm" }],
    ...extra,
  };
}

let state: SavedState;
beforeEach(() => {
  state = { version: 2, resources: {} };
});
afterEach(() => removeState(STACK));

describe("refresh reads back what the provider's Read reads, and up plans against it", () => {
  // resourceDockerContainerRead sets restart, memory, healthcheck, mounts, capabilities, hostname... into state.
  it("repairs `docker update --restart=no` in place on up --refresh", async () => {
    const fake = new FakeDocker();
    await deployment(state, fake).register(registration(CONTAINER, "w1", worker()));
    fake.dockerUpdate("w1", { RestartPolicy: { Name: "no" } });
    fake.calls.length = 0;

    const next = deployment(state, fake);
    await next.refresh();
    await next.register(registration(CONTAINER, "w1", worker()));
    expect(next.changes).toEqual([`~ update  ${CONTAINER} w1: restart`]);
    expect(fake.calls.filter((c) => c.startsWith("update w1"))).toHaveLength(1);
    expect((await fake.getContainer("w1").inspect()).HostConfig.RestartPolicy).toEqual({ Name: "unless-stopped" });
    expect(fake.calls.some((c) => c.startsWith("create container"))).toBe(false);
  });

  it("sees no drift in a container nobody touched", async () => {
    const fake = new FakeDocker();
    await deployment(state, fake).register(registration(CONTAINER, "w1", worker()));
    const next = deployment(state, fake);
    await next.refresh();
    await next.register(registration(CONTAINER, "w1", worker()));
    expect(next.changes).toEqual([]);
    expect(next.counts.same).toBe(1);
  });

  it.each([
    ["memory", { Memory: 256 * 2 ** 20 }, "update", "memory"],
    ["mounts", { Mounts: [] }, "replace", "mounts (forces replacement)"],
    ["capabilities", { CapAdd: ["NET_ADMIN"] }, "replace", "capabilities (forces replacement)"],
    ["tmpfs", { Tmpfs: {} }, "update", "tmpfs (not applied by the provider)"],
    ["privileged", { Privileged: true }, "replace", "privileged (forces replacement)"],
    ["read-only root filesystem", { ReadonlyRootfs: true }, "replace", "readOnly (forces replacement)"],
    ["nproc limit", { Ulimits: [{ Name: "nproc", Soft: 99, Hard: 99 }] }, "replace", "ulimits (forces replacement)"],
  ])("plans from a %s changed outside the runner", async (_what, hostConfig, kind, line) => {
    const fake = new FakeDocker();
    await deployment(state, fake).register(registration(CONTAINER, "w1", worker()));
    fake.dockerUpdate("w1", hostConfig);
    const next = deployment(state, fake);
    await next.refresh();
    await next.register(registration(CONTAINER, "w1", worker()));
    expect(next.changes[0]).toMatch(new RegExp(`^${kind === "update" ? "~ update " : "\\+-replace"} ${CONTAINER} w1: .*${line.replace(/[()]/g, "\\$&")}`));
  });

  // resourceDockerContainerRead: d.Set("image", container.Image) when the image was given as "sha256:...", else Config.Image.
  describe("the image", () => {
    const full = `sha256:${"ab12".repeat(16)}`;
    it("given by ID, is read as the ID the container runs: a short ID reads as the full one, which replaces it", async () => {
      const fake = new FakeDocker({ images: { "slurm:abc": full } });
      await deployment(state, fake).register(registration(CONTAINER, "w1", worker("w1", { image: full.slice(0, 19) })));
      const next = deployment(state, fake);
      await next.refresh();
      expect(state.resources[resourceKey(CONTAINER, "w1")].inputs.image).toBe(full);
      await next.register(registration(CONTAINER, "w1", worker("w1", { image: full.slice(0, 19) })));
      expect(next.changes).toEqual([`+-replace ${CONTAINER} w1: image (forces replacement)`]);
    });

    it("given by its full ID, reads back the same", async () => {
      const fake = new FakeDocker({ images: { "slurm:abc": full } });
      await deployment(state, fake).register(registration(CONTAINER, "w1", worker("w1", { image: full })));
      const next = deployment(state, fake);
      await next.refresh();
      await next.register(registration(CONTAINER, "w1", worker("w1", { image: full })));
      expect(next.changes).toEqual([]);
    });

    it("given by name, is read as that name: the name pointing at a new image is no diff, as with the provider", async () => {
      const fake = new FakeDocker({ images: { "slurm:abc": full } });
      await deployment(state, fake).register(registration(CONTAINER, "w1", worker()));
      fake.behaviour.images!["slurm:abc"] = `sha256:${"cd34".repeat(16)}`; // rebuilt under the same tag
      const next = deployment(state, fake);
      await next.refresh();
      await next.register(registration(CONTAINER, "w1", worker()));
      expect(next.changes).toEqual([]);
    });
  });

  it("does not read env or labels, as the provider does not", async () => {
    const fake = new FakeDocker();
    await deployment(state, fake).register(registration(CONTAINER, "w1", worker()));
    fake.containers.get([...fake.containers.keys()][0])!.options.Env = ["A=2"];
    const next = deployment(state, fake);
    await next.refresh();
    await next.register(registration(CONTAINER, "w1", worker()));
    expect(next.changes).toEqual([]);
  });
});

describe("create ends with a read (must_run)", () => {
  // resourceDockerContainerCreate returns resourceDockerContainerRead, which sets must_run false for a stopped container.
  it("records a container that exited at once as stopped, and the next up starts it", async () => {
    const fake = new FakeDocker({ exitAtOnce: new Set(["w1"]) });
    const inputs = worker("w1", { healthcheck: undefined });
    await deployment(state, fake).register(registration(CONTAINER, "w1", inputs));
    expect(state.resources[resourceKey(CONTAINER, "w1")].stopped).toBe(true);

    fake.behaviour.exitAtOnce!.clear();
    const next = deployment(state, fake);
    await next.register(registration(CONTAINER, "w1", inputs));
    expect(next.changes).toEqual([`~ update  ${CONTAINER} w1: mustRun`]);
    expect(fake.calls.filter((c) => c === "start w1")).toHaveLength(2);
    expect(state.resources[resourceKey(CONTAINER, "w1")].stopped).toBeUndefined();
  });
});

describe("a container on several networks", () => {
  // resourceDockerContainerCreate: ContainerCreate with network_mode (default bridge) and no
  // NetworkingConfig, then NetworkDisconnect(bridge), then NetworkConnect for each of networks_advanced.
  it("is created on the default bridge, leaves it, and is connected to each network with its aliases, before uploads and start", async () => {
    const fake = new FakeDocker();
    await fake.createNetwork({ Name: "cluster" });
    await fake.createNetwork({ Name: "monitoring" });
    const inputs = worker("exporter", {
      networksAdvanced: [{ name: "cluster", aliases: ["slurm-exporter"] }, { name: "monitoring", aliases: ["slurm-exporter"] }],
      uploads: [{ file: "/etc/slurm/slurm.conf", content: "x" }],
    });
    await deployment(state, fake).register(registration(CONTAINER, "exporter", inputs));
    const created = fake.containers.get([...fake.containers.keys()][0])!;
    expect(created.options.HostConfig.NetworkMode).toBe("bridge");
    expect(created.options.NetworkingConfig).toBeUndefined();
    const id = created.id;
    const steps = fake.calls.filter((c) => c.includes(id) || /^(create container|upload|start)/.test(c));
    expect(steps.slice(0, 5)).toEqual([
      "create container exporter", `disconnect ${id} from bridge`, `connect ${id} to cluster`, `connect ${id} to monitoring`, expect.stringMatching(/^upload/),
    ]);
    expect(created.networks).toEqual(["cluster", "monitoring"]);
    expect(created.endpoints).toEqual({ cluster: { Aliases: ["slurm-exporter"] }, monitoring: { Aliases: ["slurm-exporter"] } });
    // networkDatas: one entry per network the container is on, the default bridge not among them.
    const outputs = state.resources[resourceKey(CONTAINER, "exporter")].outputs;
    expect(outputs.networkDatas.map((n: { networkName: string }) => n.networkName).sort()).toEqual(["cluster", "monitoring"]);
  });

  it("replaces the container when its networks change (networks_advanced is ForceNew)", async () => {
    const fake = new FakeDocker();
    await deployment(state, fake).register(registration(CONTAINER, "w1", worker("w1")));
    const next = deployment(state, fake);
    await next.register(registration(CONTAINER, "w1", worker("w1", { networksAdvanced: [{ name: "net", aliases: ["w1"] }, { name: "net2", aliases: ["w1"] }] })));
    expect(next.changes).toEqual([`+-replace ${CONTAINER} w1: networksAdvanced (forces replacement)`]);
  });
});

describe("a create that fails after the container exists", () => {
  // The bridge keeps a resource whose Create returned an error after setting its id, with init errors.
  it.each([
    ["a network connect", { refuseConnect: new Set(["net2"]) }],
    ["an upload", { refuseUploads: true }],
  ])("keeps the container in state when %s fails, and the next up updates it instead of tripping over its name", async (_what, behaviour) => {
    const fake = new FakeDocker(behaviour);
    const inputs = worker("w1", {
      networksAdvanced: [{ name: "net" }, { name: "net2" }],
      uploads: [{ file: "/etc/slurm/slurm.conf", content: "x" }],
    });
    await expect(deployment(state, fake).register(registration(CONTAINER, "w1", inputs))).rejects.toThrow(/container w1/);
    expect(state.resources[resourceKey(CONTAINER, "w1")]).toMatchObject({ initErrors: true });

    const next = deployment(state, fake);
    await next.register(registration(CONTAINER, "w1", inputs));
    expect(next.changes).toEqual([`~ update  ${CONTAINER} w1`]);
    expect(fake.calls.filter((c) => c === "create container w1")).toHaveLength(1);
  });
});

describe("after a failed step", () => {
  // pkg/resource/deploy/step_executor.go cancelDueToError: without ContinueOnError the executor cancels.
  it("starts no new step, and says how many it left", async () => {
    const fake = new FakeDocker();
    await fake.createContainer({ name: "w1" }); // a stray of the same name: Docker refuses the create
    const run = deployment(state, fake);
    const failed = await run.register(registration(CONTAINER, "w1", worker("w1"))).catch((e: Error) => e);
    const skipped = await run.register(registration(CONTAINER, "w2", worker("w2"))).catch((e: Error) => e);
    expect(failed).toBeInstanceOf(Error);
    expect(skipped).toBeInstanceOf(StepNotStartedError);
    expect(fake.calls).not.toContain("create container w2");
    expect(failureReport([failed as Error, skipped as Error])).toMatch(/already in use[\s\S]*1 step\(s\) not started/);
  });

  it("keeps going with --continue-on-error", async () => {
    const fake = new FakeDocker();
    await fake.createContainer({ name: "w1" });
    const run = deployment(state, fake, { continueOnError: true });
    await expect(run.register(registration(CONTAINER, "w1", worker("w1")))).rejects.toThrow(/already in use/);
    await run.register(registration(CONTAINER, "w2", worker("w2")));
    expect(fake.calls).toContain("create container w2");
  });
});

describe("dynamic providers, called as the Pulumi host calls them", () => {
  // sdk/nodejs/cmd/dynamic-provider/index.ts: check(olds = old inputs, news); diff's deleteBeforeReplace; update optional.
  // The provider's code runs outside jest's sandbox (as Pulumi runs it, from a string): it logs its calls to a file.
  const log = path.join(os.tmpdir(), `runner-strict-dynamic-${process.pid}.jsonl`);
  const calls: unknown[][] = [];
  const readCalls = () => {
    calls.length = 0;
    if (fs.existsSync(log)) calls.push(...fs.readFileSync(log, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)));
    return calls;
  };
  function providerCode(diff: string, withUpdate: boolean): string {
    return `
      const fs = require("fs");
      const call = (...c) => fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify(c) + "\\n");
      exports.handler = () => ({
        check: async (olds, news) => { call("check", olds, news); return { inputs: news }; },
        diff: async (id, olds, news) => (${diff}),
        create: async (news) => { call("create", news.v); return { id: "id-" + news.v, outs: { ...news, computed: "out" } }; },
        ${withUpdate ? `update: async (id, olds, news) => { call("update", news.v); return { outs: news }; },` : ""}
        delete: async (id) => { call("delete", id); },
      });`;
  }
  beforeEach(() => fs.rmSync(log, { force: true }));
  afterAll(() => fs.rmSync(log, { force: true }));

  it("checks against the old inputs, not the old outputs", async () => {
    const code = providerCode("{ changes: olds.v !== news.v }", true);
    await deployment(state, new FakeDocker()).register(registration(DYNAMIC, "check", { v: 1, __provider: code }));
    await deployment(state, new FakeDocker()).register(registration(DYNAMIC, "check", { v: 2, __provider: code }));
    expect(readCalls().filter((c) => c[0] === "check").map((c) => c[1])).toEqual([{}, { v: 1 }]);
  });

  it("creates the replacement before deleting the old one unless diff asks for deleteBeforeReplace", async () => {
    for (const dbr of [false, true]) {
      fs.rmSync(log, { force: true });
      state = { version: 2, resources: {} };
      const code = providerCode(`{ changes: true, replaces: ["v"], deleteBeforeReplace: ${dbr} }`, true);
      await deployment(state, new FakeDocker()).register(registration(DYNAMIC, "r", { v: 1, __provider: code }));
      const run = deployment(state, new FakeDocker());
      await run.register(registration(DYNAMIC, "r", { v: 2, __provider: code }));
      await run.deleteUndeclared();
      const steps = readCalls().filter((c) => c[0] !== "check").slice(1);
      expect(steps).toEqual(dbr ? [["delete", "id-1"], ["create", 2]] : [["create", 2], ["delete", "id-1"]]);
    }
  });

  it("treats a provider without update as an in-place no-op", async () => {
    const code = providerCode("{ changes: true }", false);
    await deployment(state, new FakeDocker()).register(registration(DYNAMIC, "r", { v: 1, __provider: code }));
    const run = deployment(state, new FakeDocker());
    await run.register(registration(DYNAMIC, "r", { v: 2, __provider: code }));
    expect(run.changes).toEqual([`~ update  ${DYNAMIC} r`]);
    expect(readCalls().filter((c) => c[0] === "create" || c[0] === "delete")).toEqual([["create", 1]]);
    expect(state.resources[resourceKey(DYNAMIC, "r")].id).toBe("id-1");
  });
});



describe("removing a network or volume Docker says is still in use", () => {
  // resourceDockerNetworkDelete / resourceDockerVolumeDelete: StateChangeConf retrying for 30 s; VolumeRemove(force=true).
  // The provider's own timings, counted on a clock of the test's: no test here races the machine's speed.
  function virtualClock(): Clock {
    let t = 0;
    return {
      now: () => t,
      sleep: async (ms) => {
        t += ms;
      },
    };
  }
  const resources = (fake: FakeDocker, clock: Clock) => new DockerResources(fake as unknown as Docker, () => undefined, { ...PROVIDER_REMOVAL_RETRY, clock });

  it("tries a network with active endpoints again until it goes", async () => {
    const fake = new FakeDocker({ activeEndpoints: { net: 2 } });
    const { id } = await fake.createNetwork({ Name: "net" });
    const clock = virtualClock();
    await resources(fake, clock).deleteNetwork(id, "net");
    expect(fake.calls.filter((c) => c === "remove network net")).toHaveLength(3);
    expect(fake.networks.size).toBe(0);
    expect(clock.now()).toBe(10_000); // two waits of 5 s
  });

  it("gives up on a network after the provider's time, naming it", async () => {
    const fake = new FakeDocker({ activeEndpoints: { net: 1000 } });
    const { id } = await fake.createNetwork({ Name: "net" });
    const clock = virtualClock();
    await expect(resources(fake, clock).deleteNetwork(id, "net")).rejects.toThrow(
      /timeout while waiting for network net to be removed \(.*has active endpoints\)/,
    );
    // Tried at 0, 5, ..., 30 s: the next wait would end past the 30 s.
    expect(fake.calls.filter((c) => c === "remove network net")).toHaveLength(7);
    expect(clock.now()).toBe(30_000);
  });

  it("removes a volume with force, trying again while it is in use", async () => {
    const fake = new FakeDocker({ volumeInUse: { data: 1 } });
    await fake.createVolume({ Name: "data" });
    await resources(fake, virtualClock()).deleteVolume("data");
    expect(fake.calls.filter((c) => c.startsWith("remove volume"))).toEqual(["remove volume data force=true", "remove volume data force=true"]);
    expect(fake.volumes.size).toBe(0);
  });

  it("uses the provider's 30 s", () => {
    expect(PROVIDER_REMOVAL_RETRY).toMatchObject({ timeoutMs: 30_000, pollMs: 5_000 });
  });
});

describe("replacing a named network or volume", () => {
  // Bridge autonaming (nameRequiresDeleteBeforeReplace) and the engine's calculateDependentReplacements.
  const netKey = resourceKey(NETWORK, "net");
  const volKey = resourceKey(VOLUME, "state");
  const w1 = () =>
    registration(CONTAINER, "w1", worker("w1"), {
      dependencies: [`urn:pulumi:s::p::${NETWORK}::net`, `urn:pulumi:s::p::${VOLUME}::state`],
      propertyDependencies: { networksAdvanced: [`urn:pulumi:s::p::${NETWORK}::net`], mounts: [`urn:pulumi:s::p::${VOLUME}::state`] },
    });
  // Depends on the network only through dependsOn: no input of it changes, so it stays.
  const bystander = () => registration(CONTAINER, "b1", worker("b1", { mounts: undefined, networksAdvanced: [{ name: "other" }] }), { dependencies: [`urn:pulumi:s::p::${NETWORK}::net`] });

  async function upWith(fake: FakeDocker, netLabels: Inputs[], apply = true): Promise<Deployment> {
    const run = deployment(state, fake, { apply });
    await run.register(registration(NETWORK, "net", { name: "net", labels: netLabels }));
    await run.register(registration(VOLUME, "state", { name: "state" }));
    await run.register(w1());
    await run.register(bystander());
    return run;
  }

  it("deletes the containers on it first, then the network, creates the network, then the containers again", async () => {
    const fake = new FakeDocker();
    await upWith(fake, []);
    expect(state.resources[w1Key()].inputDependencies).toEqual({ networksAdvanced: [netKey], mounts: [volKey] });
    fake.calls.length = 0;
    const run = await upWith(fake, [{ label: "tier", value: "2" }]);
    const order = fake.calls.filter((c) => /^(remove|create)/.test(c));
    expect(order).toEqual(["remove w1 force=true v=true", "remove network net", "create network net", "create container w1"]);
    expect(run.changes).toEqual([
      `+-replace ${NETWORK} net: labels (forces replacement)`,
      `+-replace ${CONTAINER} w1`,
    ]);
  });

  it("shows the containers' replacement in a preview, touching nothing", async () => {
    const fake = new FakeDocker();
    await upWith(fake, []);
    fake.calls.length = 0;
    const run = await upWith(fake, [{ label: "tier", value: "2" }], false);
    expect(run.counts).toMatchObject({ replace: 2, same: 2 });
    expect(fake.calls.filter((c) => /^(remove|create)/.test(c))).toEqual([]);
  });

  function w1Key() {
    return resourceKey(CONTAINER, "w1");
  }
});

describe("resource options", () => {
  // The RegisterResourceRequest as @pulumi/pulumi builds it, read by the runner's detailsOf.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const resproto = require("@pulumi/pulumi/proto/resource_pb");

  it("reads protect, customTimeouts, aliases and additionalSecretOutputs from the request, and names any option it does not implement", () => {
    const req = new resproto.RegisterResourceRequest();
    req.setType(CONTAINER);
    req.setName("w1");
    req.setProtect(true);
    const timeouts = new resproto.RegisterResourceRequest.CustomTimeouts();
    timeouts.setCreate("5m");
    req.setCustomtimeouts(timeouts);
    req.setAliasurnsList([`urn:pulumi:s::p::${CONTAINER}::old-w1`]);
    req.setAdditionalsecretoutputsList(["exitCode"]);
    req.setDeletedwith(`urn:pulumi:s::p::${NETWORK}::net`);
    req.setImportid("abc");
    expect(detailsOf(req)).toMatchObject({
      protect: true,
      customTimeouts: { create: "5m" },
      aliases: [{ urn: `urn:pulumi:s::p::${CONTAINER}::old-w1` }],
      additionalSecretOutputs: ["exitCode"],
      unsupported: ["import", "deletedWith"],
    });
  });

  it("refuses an option it does not implement with one line", async () => {
    await expect(deployment(state, new FakeDocker()).register(registration(CONTAINER, "w1", worker(), { unsupported: ["deletedWith"] }))).rejects.toThrow(
      /^local runner: resource option\(s\) deletedWith \(on w1\) are not implemented$/,
    );
  });

  // pkg/resource/deploy/step.go deleteProtectedError and step_generator.go's protected replacement.
  it("neither deletes nor replaces a protected resource", async () => {
    const fake = new FakeDocker();
    await deployment(state, fake).register(registration(VOLUME, "state", { name: "state" }, { protect: true }));
    await expect(deployment(state, fake).register(registration(VOLUME, "state", { name: "state", driver: "other" }, { protect: true }))).rejects.toThrow(
      /unable to replace resource state as it is currently marked for protection/,
    );
    await expect(deployment(state, fake).deleteUndeclared()).rejects.toThrow(/state cannot be deleted because they are protected/);
    expect(fake.volumes.has("state")).toBe(true);
  });

  it("fails a create that outlasts customTimeouts.create", async () => {
    let release = () => {};
    const fake = new FakeDocker({ startGate: new Promise<void>((r) => (release = r)) });
    const run = deployment(state, fake);
    await expect(run.register(registration(CONTAINER, "w1", worker(), { customTimeouts: { create: "50ms" } }))).rejects.toThrow(
      /creating w1: timed out after 50ms \(customTimeouts\)/,
    );
    release();
    await run.settled();
  });

  // The engine records what a provider created even when the step failed (a partial create, initErrors).
  it("records a create that ends after its timeout, so the next up updates that container instead of tripping over its name", async () => {
    let release = () => {};
    const fake = new FakeDocker({ startGate: new Promise<void>((r) => (release = r)) });
    const run = deployment(state, fake);
    const timeouts = { customTimeouts: { create: "10ms" } };
    await expect(run.register(registration(CONTAINER, "w1", worker(), timeouts))).rejects.toThrow(/timed out/);
    expect(state.resources[resourceKey(CONTAINER, "w1")]).toBeUndefined(); // still being created
    release();
    await run.settled();
    const created = [...fake.containers.values()].find((c) => c.name === "w1")!;
    expect(state.resources[resourceKey(CONTAINER, "w1")]).toMatchObject({ id: created.id, initErrors: true });

    const next = deployment(state, fake);
    await next.register(registration(CONTAINER, "w1", worker(), timeouts));
    expect(next.changes).toEqual([`~ update  ${CONTAINER} w1`]);
    expect(fake.calls.filter((c) => c === "create container w1")).toHaveLength(1);
  });

  it("finds a resource under its alias instead of creating it again", async () => {
    const fake = new FakeDocker();
    await deployment(state, fake).register(registration(CONTAINER, "old-w1", worker("w1")));
    const run = deployment(state, fake);
    await run.register(registration(CONTAINER, "w1", worker("w1"), { aliases: [{ name: "old-w1" }] }));
    expect(run.counts).toMatchObject({ same: 1, create: 0 });
    expect(Object.keys(state.resources)).toEqual([resourceKey(CONTAINER, "w1")]);
    expect(fake.calls.filter((c) => c.startsWith("create container"))).toHaveLength(1);
  });

  // The engine's alias matching moves a resource to its new URN; everything that named the old one follows it.
  it("moves the input dependencies and pending deletes that name an aliased resource to its new key", async () => {
    const fake = new FakeDocker();
    const oldNet = `urn:pulumi:s::p::${NETWORK}::old-net`;
    const first = deployment(state, fake);
    await first.register(registration(NETWORK, "old-net", { name: "net" }));
    await first.register(registration(CONTAINER, "w1", worker("w1"), { dependencies: [oldNet], propertyDependencies: { networksAdvanced: [oldNet] } }));
    const replaced = { ...state.resources[resourceKey(CONTAINER, "w1")], id: "gone" };
    state.pendingDeletes = [replaced];
    fake.calls.length = 0;

    // The network, under its new name, changes so that it is replaced (delete first: it is named).
    const run = deployment(state, fake);
    await run.register(registration(NETWORK, "net", { name: "net", labels: [{ label: "tier", value: "2" }] }, { aliases: [{ name: "old-net" }] }));
    const netKey = resourceKey(NETWORK, "net");
    expect(state.pendingDeletes?.[0]).toMatchObject({ dependencies: [netKey], inputDependencies: { networksAdvanced: [netKey] } });
    // w1 is built on it (networksAdvanced): deleted before the network, as the engine's dependent replacements.
    expect(fake.calls.filter((c) => /^(remove|create)/.test(c))).toEqual(["remove w1 force=true v=true", "remove network net", "create network net"]);
  });

  it("hands additionalSecretOutputs back to the program as secrets", async () => {
    const result = await deployment(state, new FakeDocker()).register(
      registration("random:index/randomPassword:RandomPassword", "pw", { length: 8 }, { additionalSecretOutputs: ["result"] }),
    );
    expect(result.state.result).toMatchObject({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" });
    expect(result.state.length).toBe(8);
  });

  it("marks a secret once when the SDK lists it twice (pulumi-random adds its own list to the program's)", async () => {
    const result = await deployment(state, new FakeDocker()).register(
      registration("random:index/randomPassword:RandomPassword", "pw2", { length: 8 }, { additionalSecretOutputs: ["bcryptHash", "result", "bcryptHash", "result"] }),
    );
    expect(typeof result.state.result.value).toBe("string");
    expect(result.state.result.value).toHaveLength(8);
  });
});

describe("the program itself", () => {
  it("sets no resource option the runner refuses, on any stack", async () => {
    for (const stack of ["ubuntu", "qnap"]) {
      const run = await runWithMocks(stack);
      expect(run.error).toBeUndefined();
      const refused = run.registrations.filter((r) => (r.details.unsupported ?? []).length > 0 || r.details.ignoreChanges.length > 0);
      expect(refused.map((r) => `${r.name}: ${r.details.unsupported}`)).toEqual([]);
    }
  }, 120_000);
});

describe("refresh of a stopped container", () => {
  // resourceDockerContainerRead: with must_run, ports are read even from a stopped container, which reports none.
  it("reads its inputs too: published ports read as none, so the provider replaces it rather than starting it", async () => {
    const fake = new FakeDocker();
    await deployment(state, fake).register(registration(CONTAINER, "w1", worker()));
    fake.dockerStop("w1");
    const next = deployment(state, fake);
    await next.refresh();
    await next.register(registration(CONTAINER, "w1", worker()));
    expect(next.changes).toEqual([`+-replace ${CONTAINER} w1: ports (forces replacement), mustRun`]);
  });

  it("is started in place when it publishes no ports", async () => {
    const fake = new FakeDocker();
    await deployment(state, fake).register(registration(CONTAINER, "w1", worker("w1", { ports: undefined })));
    fake.dockerStop("w1");
    const next = deployment(state, fake);
    await next.refresh();
    await next.register(registration(CONTAINER, "w1", worker("w1", { ports: undefined })));
    expect(next.changes).toEqual([`~ update  ${CONTAINER} w1: mustRun`]);
  });

  it("does not compare an external port Docker picked", async () => {
    const fake = new FakeDocker();
    const inputs = worker("w1", { ports: [{ internal: 9100, ip: "127.0.0.1" }] });
    await deployment(state, fake).register(registration(CONTAINER, "w1", inputs));
    fake.dockerUpdate("w1", { PortBindings: { "9100/tcp": [{ HostIp: "127.0.0.1", HostPort: "32768" }] } });
    const next = deployment(state, fake);
    await next.refresh();
    await next.register(registration(CONTAINER, "w1", inputs));
    expect(next.changes).toEqual([]);
  });
});

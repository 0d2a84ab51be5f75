import { ROLE_CAPABILITIES } from "../../config/render/container-baseline";
import { CONTAINER, IMAGE, NETWORK, VOLUME, isWireSecret, ofType, runWithMocks } from "./harness";
import { DEFAULT_FACTS, startFakeEngine } from "./fake-engine";
import { ResolvedOutput, printableOutputs } from "../../local-runner/program";

/** An engine with Docker 28's writable-cgroups: cgroup v2 workers then need no SYS_ADMIN. */
const DOCKER_28 = { ...DEFAULT_FACTS, serverVersion: "28.5.2" };

const STACKS = ["ubuntu", "macos", "qnap"];
/** macos and qnap are workers stacks as committed; README's way to run either as a whole cluster. */
const asCluster = (stack: string) => (stack === "ubuntu" ? [] : ["role=cluster", "controllerStack="]);
const prefixOf = (stack: string) => (stack === "macos" ? "mac" : "worker");

describe.each(STACKS)("stack %s as a whole cluster", (stack) => {
  it("declares network, volumes, images, database, slurmdbd, controller and one worker per node", async () => {
    const run = await runWithMocks(stack, [...asCluster(stack), "monitoring=false"]);
    expect(run.error).toBeUndefined();
    const names = ofType(run, CONTAINER).map((c) => c.inputs.name).sort();
    const p = prefixOf(stack);
    expect(names).toEqual(
      [`slurm-${stack}-controller`, `slurm-${stack}-database`, `slurm-${stack}-login`, `slurm-${stack}-rest`, `slurm-${stack}-slurmdbd`, `slurm-${stack}-${p}1`, `slurm-${stack}-${p}2`].sort(),
    );
    expect(ofType(run, NETWORK).map((n) => n.inputs.name).sort()).toEqual(
      [`accounting-net`, `net`].map((n) => expect.stringMatching(new RegExp(`^slurm-${stack}-${n}-[0-9a-f]{8}$`))),
    );
    expect(ofType(run, VOLUME).map((v) => v.inputs.name).sort()).toEqual(
      [`slurm-${stack}-database`, `slurm-${stack}-shared`, `slurm-${stack}-statesave`].sort(),
    );
    expect(ofType(run, IMAGE).map((i) => i.inputs.imageName.split(":")[0]).sort()).toEqual(["slurm-cluster/mariadb", "slurm-cluster/slurm", "slurm-cluster/slurm-login", "slurm-cluster/slurm-worker"]);
    const checks = run.registrations.filter((r) => r.type === "pulumi-nodejs:dynamic/slurm-cluster:NodeRegistration");
    expect(checks.map((c) => c.inputs.nodeName).sort()).toEqual([`${p}1`, `${p}2`]);
  });

  it("labels every container, network and volume with project, stack and role", async () => {
    const run = await runWithMocks(stack, asCluster(stack));
    for (const r of [...ofType(run, CONTAINER), ...ofType(run, NETWORK), ...ofType(run, VOLUME)]) {
      const labels = Object.fromEntries(r.inputs.labels.map((l: { label: string; value: string }) => [l.label, l.value]));
      expect(labels).toMatchObject({ "com.slurm-cluster.project": "slurm-cluster", "com.slurm-cluster.stack": stack });
      expect(labels["com.slurm-cluster.role"]).toBeTruthy();
    }
  });
});

describe("the ubuntu stack's wiring", () => {
  it("starts slurmdbd after the database, and the controller and workers beside them; checks each node once the controller answers", async () => {
    const run = await runWithMocks("ubuntu");
    const byName = Object.fromEntries(ofType(run, CONTAINER).map((c) => [c.inputs.name, c]));
    const db = byName["slurm-ubuntu-database"];
    const dbd = byName["slurm-ubuntu-slurmdbd"];
    const ctl = byName["slurm-ubuntu-controller"];
    expect(dbd.started).toBeGreaterThan(db.finished);
    // Each entrypoint waits for its dependency itself: the controller and workers do not wait for
    // accounting (or the controller) to be ready before they are created.
    expect(ctl.started).toBeLessThan(dbd.finished);
    for (const w of ["slurm-ubuntu-worker1", "slurm-ubuntu-worker2"]) expect(byName[w].started).toBeLessThan(ctl.finished);
    // ... but only once the images of what they run and of what they wait for are built (no
    // daemon's bounded wait runs while such an image builds), and not after any other image: the
    // exporter's, built from the whole project, is not on the way to the first job.
    const images = (name: string) =>
      byName[name].details.dependencies.map((urn: string) => urn.split("::").pop()!).filter((n: string) => n.endsWith("-image")).sort();
    const every = ofType(run, IMAGE).map((i) => i.name).sort();
    expect({
      controller: images("slurm-ubuntu-controller"),
      worker1: images("slurm-ubuntu-worker1"),
      worker2: images("slurm-ubuntu-worker2"),
      login: images("slurm-ubuntu-login"),
      rest: images("slurm-ubuntu-rest"),
      exporter: images("slurm-ubuntu-slurm-exporter"),
    }).toEqual({
      controller: ["database-image", "slurm-image"],
      worker1: ["database-image", "slurm-image", "slurm-worker-image"],
      worker2: ["database-image", "slurm-image", "slurm-worker-image"],
      login: ["login-image", "slurm-image"],
      rest: every,
      exporter: every,
    });
    for (const name of ["slurm-ubuntu-controller", "slurm-ubuntu-worker1", "slurm-ubuntu-login"]) {
      const needed = images(name).map((image: string) => run.registrations.find((r) => r.type === IMAGE && r.name === image)!.finished);
      expect({ name, afterItsImages: byName[name].started > Math.max(...needed) }).toEqual({ name, afterItsImages: true });
    }
    const checks = run.registrations.filter((r) => r.type === "pulumi-nodejs:dynamic/slurm-cluster:NodeRegistration");
    for (const check of checks) {
      const worker = byName[check.inputs.workerContainer];
      expect(check.started).toBeGreaterThan(worker.finished);
      expect(check.started).toBeGreaterThan(ctl.finished);
      expect(check.inputs.scontrolContainer).toBe("slurm-ubuntu-controller");
      expect(check.inputs.timeoutSeconds).toBe(180);
    }
  });

  it("mounts the shared volume at the same path on the controller and every worker, and state on its own volume", async () => {
    const run = await runWithMocks("ubuntu");
    const slurmNodes = ofType(run, CONTAINER).filter((c) => /controller|worker/.test(c.inputs.name));
    for (const c of slurmNodes) {
      expect(c.inputs.mounts).toContainEqual({ type: "volume", source: "slurm-ubuntu-shared", target: "/shared" });
    }
    const ctl = slurmNodes.find((c) => c.inputs.name.endsWith("controller"))!;
    expect(ctl.inputs.mounts).toContainEqual({ type: "volume", source: "slurm-ubuntu-statesave", target: "/var/lib/slurm/slurmctld" });
  });

  it("uses the sharedVolume and workerCount config", async () => {
    const run = await runWithMocks("ubuntu", ["sharedVolume=lab-home", "workerCount=3"]);
    expect(run.error).toBeUndefined();
    const workers = ofType(run, CONTAINER).filter((c) => c.inputs.name.includes("worker"));
    expect(workers).toHaveLength(3);
    for (const w of workers) expect(w.inputs.mounts).toContainEqual({ type: "volume", source: "lab-home", target: "/shared" });
    expect(run.outputs.sharedVolume).toEqual({ name: "lab-home", mountPath: "/shared" });
  });

  it("publishes no Slurm or database port, runs nothing privileged, and drops every capability but its role's in none mode", async () => {
    const run = await runWithMocks("ubuntu");
    for (const c of ofType(run, CONTAINER)) {
      if (!/prometheus|exporter|grafana|alertmanager|rest|login/.test(c.inputs.name)) expect({ name: c.inputs.name, ports: c.inputs.ports }).toEqual({ name: c.inputs.name, ports: undefined });
      expect(c.inputs.privileged).toBeUndefined();
      const role = c.inputs.labels.find((l: { label: string }) => l.label === "com.slurm-cluster.role").value as keyof typeof ROLE_CAPABILITIES;
      expect({ name: c.inputs.name, capabilities: c.inputs.capabilities }).toEqual({
        name: c.inputs.name,
        capabilities: { drops: ["ALL"], ...(ROLE_CAPABILITIES[role].adds.length > 0 ? { adds: [...ROLE_CAPABILITIES[role].adds].sort() } : {}) },
      });
    }
  });

  it("installs the same munge key in every Slurm container, and keeps it and the database password secret", async () => {
    const run = await runWithMocks("ubuntu");
    const secretUploads = (name: string): { file: string; content?: string; contentBase64?: string; permissions?: string }[] => {
      const uploads = ofType(run, CONTAINER).find((c) => c.inputs.name === name)!.inputs.uploads;
      // A secret element makes the whole upload list secret on its way to the provider.
      expect(isWireSecret(uploads)).toBe(true);
      return uploads.value;
    };
    const keys = ["slurmdbd", "controller", "worker1", "worker2"].map((role) => {
      const key = secretUploads(`slurm-ubuntu-${role}`).find((u) => u.file === "/etc/munge/munge.key")!;
      expect(key.permissions).toBe("0400");
      return key.contentBase64;
    });
    expect(new Set(keys).size).toBe(1);
    expect(Buffer.from(keys[0]!, "base64")).toHaveLength(128);
    const conf = secretUploads("slurm-ubuntu-slurmdbd").find((u) => u.file === "/etc/slurm/slurmdbd.conf")!;
    expect(conf.content).toContain("StoragePass=MockPassword123");
    expect(conf.permissions).toBe("0600");
    const pw = secretUploads("slurm-ubuntu-database").find((u) => u.file.endsWith("database-password"))!;
    expect(pw.content).toBe("MockPassword123");
  });

  it("exports the documented outputs, with the database password as a secret", async () => {
    const run = await runWithMocks("ubuntu");
    expect(run.outputs).toMatchObject({
      clusterName: "ubuntu",
      slurmVersion: "24.11.5",
      cgroupMode: "none",
      network: expect.stringMatching(/^slurm-ubuntu-net-[0-9a-f]{8}$/),
      networks: {
        cluster: expect.stringMatching(/^slurm-ubuntu-net-[0-9a-f]{8}$/),
        accounting: expect.stringMatching(/^slurm-ubuntu-accounting-net-[0-9a-f]{8}$/),
        monitoring: expect.stringMatching(/^slurm-ubuntu-monitoring-net-[0-9a-f]{8}$/),
      },
      controller: { containerName: "slurm-ubuntu-controller", hostname: "controller", address: "10.9.0.2", stateSaveVolume: "slurm-ubuntu-statesave" },
      nodes: [
        { name: "worker1", containerName: "slurm-ubuntu-worker1", state: "IDLE", cpus: 2, memoryMb: 1024 },
        { name: "worker2", containerName: "slurm-ubuntu-worker2", state: "IDLE", cpus: 2, memoryMb: 1024 },
      ],
      database: { host: "database", port: 3306, name: "slurm_acct_db", user: "slurm", password: { secret: "MockPassword123" } },
      sharedVolume: { name: "slurm-ubuntu-shared", mountPath: "/shared" },
      monitoring: {
        prometheusUrl: "http://127.0.0.1:9090",
        slurmExporterUrl: "http://127.0.0.1:9341/metrics",
        grafanaUrl: "http://127.0.0.1:3000",
        grafanaAdminUser: "admin",
        grafanaAdminPassword: { secret: "MockPassword123" },
      },
    });
    // Nothing but the passwords is secret, and the password appears nowhere else in the outputs.
    const text = JSON.stringify({
      ...run.outputs,
      database: { ...(run.outputs.database as object), password: null },
      monitoring: { ...(run.outputs.monitoring as object), grafanaAdminPassword: null },
    });
    expect(text).not.toContain("MockPassword123");
  });
});

describe("worker modes in the ubuntu stack", () => {
  const worker = (run: Awaited<ReturnType<typeof runWithMocks>>) =>
    ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-worker1")!;

  it("systemd mode builds the systemd image FROM the workers' image and runs workers on it", async () => {
    const run = await runWithMocks("ubuntu", ["cgroupMode=systemd", "hostCgroupVersion=2", "monitoring=false"], false, DOCKER_28);
    expect(run.error).toBeUndefined();
    const images = Object.fromEntries(ofType(run, IMAGE).map((i) => [i.inputs.imageName.split(":")[0], i]));
    expect(Object.keys(images).sort()).toEqual(["slurm-cluster/mariadb", "slurm-cluster/slurm", "slurm-cluster/slurm-login", "slurm-cluster/slurm-systemd", "slurm-cluster/slurm-worker"]);
    expect(images["slurm-cluster/slurm-worker"].inputs.build.args).toEqual({ SLURM_IMAGE: images["slurm-cluster/slurm"].inputs.imageName, SLURM_RELEASE: "24.11" });
    expect(images["slurm-cluster/slurm-systemd"].inputs.build.args).toEqual({ SLURM_IMAGE: images["slurm-cluster/slurm-worker"].inputs.imageName, SLURM_RELEASE: "24.11" });
    expect(images["slurm-cluster/slurm-systemd"].started).toBeGreaterThan(images["slurm-cluster/slurm-worker"].finished);
    const w = worker(run);
    expect(w.inputs).toMatchObject({
      image: images["slurm-cluster/slurm-systemd"].inputs.imageName,
      command: ["systemd"],
      stopSignal: "SIGRTMIN+3",
      cgroupnsMode: "private",
      capabilities: { drops: ["NET_RAW"] },
      securityOpts: ["writable-cgroups=true"],
      tmpfs: { "/run": "rw,mode=755", "/run/lock": "rw,mode=755" },
    });
    expect(w.inputs.privileged).toBeUndefined();
    // The controller keeps the plain Slurm image.
    const ctl = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-controller")!;
    expect(ctl.inputs.image).toBe(images["slurm-cluster/slurm"].inputs.imageName);
    const check = run.registrations.find((r) => r.type === "pulumi-nodejs:dynamic/slurm-cluster:NodeRegistration" && r.inputs.nodeName === "worker1")!;
    expect(check.inputs.logCommand).toEqual(expect.arrayContaining(["journalctl"]));
    expect(run.outputs).toMatchObject({ cgroupMode: "systemd", hostCgroupVersion: 2 });
  });

  it("cgroup mode on a v1 host gives each worker only its own parent cgroup, in a private cgroup namespace, and no capability beyond slurmd's", async () => {
    const run = await runWithMocks("ubuntu", ["cgroupMode=cgroup", "hostCgroupVersion=1", "monitoring=false"]);
    const w = worker(run);
    expect(w.inputs.mounts).not.toContainEqual(expect.objectContaining({ source: "/sys/fs/cgroup" }));
    expect(w.inputs.cgroupnsMode).toBe("private");
    expect(w.inputs.cgroupParent).toBe("/slurm-ubuntu-worker1");
    expect(w.inputs.volumes.map((v: { hostPath: string }) => v.hostPath)).toEqual(
      ["cpuacct", "cpuset", "devices", "freezer", "memory"].map((c) => `/sys/fs/cgroup/${c}/slurm-ubuntu-worker1`),
    );
    expect(ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-worker2")!.inputs.cgroupParent).toBe("/slurm-ubuntu-worker2");
    expect(w.inputs.capabilities).toEqual({ drops: ["ALL"], adds: ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID"] });
    expect(ofType(run, IMAGE)).toHaveLength(4);
  });

  it("runs the daemons on the Slurm image alone, and the workers on the image with the job runtimes unless jobRuntimes=false", async () => {
    const imageOf = (run: Awaited<ReturnType<typeof runWithMocks>>, name: string) => ofType(run, CONTAINER).find((c) => c.inputs.name === name)!.inputs.image as string;
    const full = await runWithMocks("ubuntu", ["monitoring=false"]);
    expect(imageOf(full, "slurm-ubuntu-controller")).toMatch(/^slurm-cluster\/slurm:/);
    expect(imageOf(full, "slurm-ubuntu-slurmdbd")).toMatch(/^slurm-cluster\/slurm:/);
    expect(imageOf(full, "slurm-ubuntu-worker1")).toMatch(/^slurm-cluster\/slurm-worker:/);
    const bare = await runWithMocks("ubuntu", ["monitoring=false", "jobRuntimes=false"]);
    expect(imageOf(bare, "slurm-ubuntu-worker1")).toBe(imageOf(bare, "slurm-ubuntu-controller"));
    expect(ofType(bare, IMAGE).map((i) => i.inputs.imageName.split(":")[0]).sort()).toEqual(["slurm-cluster/mariadb", "slurm-cluster/slurm", "slurm-cluster/slurm-login"]);
  });

  it("refuses systemd mode on this v1 host before anything is created, naming allowHostCgroupWrite; runs it with the key", async () => {
    const refused = await runWithMocks("ubuntu", ["cgroupMode=systemd", "hostCgroupVersion=1"]);
    expect(refused.error?.message).toMatch(/slurm-cluster:cgroupMode = "systemd" needs write access to the host's cgroups here: .*set slurm-cluster:allowHostCgroupWrite=true/);
    expect(refused.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
    const allowed = await runWithMocks("ubuntu", ["cgroupMode=systemd", "hostCgroupVersion=1", "allowHostCgroupWrite=true"]);
    expect(allowed.error).toBeUndefined();
    expect(worker(allowed).inputs).toMatchObject({ cgroupnsMode: "host", mounts: expect.arrayContaining([{ type: "bind", source: "/sys/fs/cgroup", target: "/sys/fs/cgroup", readOnly: false }]) });
  });

  it("refuses cgroup mode on a v2 host whose Docker is older than 28 unless allowHostCgroupWrite, and then adds SYS_ADMIN", async () => {
    const refused = await runWithMocks("ubuntu", ["cgroupMode=cgroup", "hostCgroupVersion=2"]);
    expect(refused.error?.message).toMatch(/older than 28 .*slurm-cluster:allowHostCgroupWrite=true/);
    expect(refused.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
    const allowed = await runWithMocks("ubuntu", ["cgroupMode=cgroup", "hostCgroupVersion=2", "allowHostCgroupWrite=true"]);
    expect(worker(allowed).inputs.capabilities.adds).toContain("SYS_ADMIN");
  });

  it("only allowPrivileged=true makes a worker privileged, and never the other containers", async () => {
    const run = await runWithMocks("ubuntu", ["cgroupMode=cgroup", "hostCgroupVersion=2", "allowPrivileged=true"], false, DOCKER_28);
    for (const c of ofType(run, CONTAINER)) {
      expect(c.inputs.privileged).toBe(c.inputs.name.includes("worker") ? true : undefined);
    }
  });
});

describe("ready for the real Pulumi CLI and pulumi-docker", () => {
  it("declares every Docker resource on one explicit engine, the same one the registration check asks", async () => {
    const engine = await startFakeEngine(DEFAULT_FACTS);
    const run = await runWithMocks("ubuntu", [`docker:host=${engine.host}`]).finally(() => engine.close());
    expect(run.error).toBeUndefined();
    const providers = run.registrations.filter((r) => r.type === "pulumi:providers:docker");
    expect(providers.map((p) => p.inputs.host)).toEqual([engine.host]);
    for (const r of run.registrations.filter((r) => r.type.startsWith("docker:"))) {
      expect({ name: r.name, provider: r.provider }).toEqual({ name: r.name, provider: expect.stringContaining("pulumi:providers:docker::docker-engine") });
    }
    const checks = run.registrations.filter((r) => r.type === "pulumi-nodejs:dynamic/slurm-cluster:NodeRegistration");
    expect(checks.map((c) => c.inputs.dockerHost)).toEqual([engine.host, engine.host]);
  });

  it("gives every stateful or systemd container time to stop, and replaces containers whose healthcheck or tmpfs changes", async () => {
    const run = await runWithMocks("ubuntu", ["cgroupMode=systemd", "hostCgroupVersion=2"], false, DOCKER_28);
    for (const c of ofType(run, CONTAINER)) {
      expect(c.details.replaceOnChanges).toEqual(["healthcheck", "tmpfs"]);
    }
    const graced = ofType(run, CONTAINER).filter((c) => c.inputs.destroyGraceSeconds >= 10).map((c) => c.inputs.name).sort();
    expect(graced).toEqual(
      ["controller", "database", "prometheus", "slurmdbd", "worker1", "worker2"].map((r) => `slurm-ubuntu-${r}`).sort(),
    );
  });

  it("retains every volume that holds state when it is deleted", async () => {
    const run = await runWithMocks("ubuntu");
    expect(ofType(run, VOLUME).map((v) => [v.inputs.name, v.details.retainOnDelete])).toEqual(
      expect.arrayContaining([
        ["slurm-ubuntu-shared", true],
        ["slurm-ubuntu-database", true],
        ["slurm-ubuntu-statesave", true],
        ["slurm-ubuntu-prometheus", true],
      ]),
    );
  });

  it("sets a worker's memory limit to workerMemoryMb plus the headroom, swap included, so memory updates in place", async () => {
    for (const [overrides, memory] of [[[], 1024 + 128], [["workerMemoryHeadroomMb=300"], 1324], [["cgroupMode=systemd", "allowHostCgroupWrite=true"], 1024 + 192]] as const) {
      const run = await runWithMocks("ubuntu", [...overrides]);
      const w = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-worker1")!;
      expect({ overrides, memory: w.inputs.memory, memorySwap: w.inputs.memorySwap }).toEqual({ overrides, memory, memorySwap: memory });
    }
  });

  it("runs as a preview, where the outputs of resources not yet created are unknown", async () => {
    const run = await runWithMocks("ubuntu", [], true);
    expect(run.error).toBeUndefined();
    expect(ofType(run, CONTAINER).length).toBeGreaterThan(5);
    const checks = run.registrations.filter((r) => r.type === "pulumi-nodejs:dynamic/slurm-cluster:NodeRegistration");
    // A worker's id is unknown in a preview: the check's input is not there yet.
    expect(checks.map((c) => c.inputs.workerContainerId)).toEqual([{ __pulumiUnknown: true }, { __pulumiUnknown: true }].map(expect.objectContaining));
  });
});

describe("the cluster network", () => {
  const cluster = (run: Awaited<ReturnType<typeof runWithMocks>>) => ofType(run, NETWORK).find((n) => n.name === "network")!;
  it("takes networkSubnet as its IPAM range, under another name; the other networks' ranges stay Docker's", async () => {
    const plain = await runWithMocks("ubuntu");
    const ranged = await runWithMocks("ubuntu", ["networkSubnet=172.31.250.0/24"]);
    expect(cluster(plain).inputs.ipamConfigs).toBeUndefined();
    expect(cluster(ranged).inputs.ipamConfigs).toEqual([{ subnet: "172.31.250.0/24" }]);
    expect(cluster(ranged).inputs.name).not.toBe(cluster(plain).inputs.name);
    // The accounting and monitoring networks are the same with and without it.
    const others = (run: typeof plain) => ofType(run, NETWORK).filter((n) => n.name !== "network").map((n) => [n.inputs.name, n.inputs.ipamConfigs]);
    expect(others(ranged)).toEqual(others(plain));
    expect(others(plain).every(([, ipam]) => ipam === undefined)).toBe(true);
  });

  it("is named after a hash of its settings, so a replacement never clashes with the old network", async () => {
    const a = await runWithMocks("ubuntu");
    const b = await runWithMocks("macos", asCluster("macos"));
    const name = (run: typeof a) => cluster(run).inputs.name as string;
    expect(name(a)).toBe(name(await runWithMocks("ubuntu")));
    // Other labels (another stack), another hash: what a settings change would give.
    expect(name(b).split("-").pop()).not.toBe(name(a).split("-").pop());
    // Its settings are pinned: another one would rename it, and an upgrade would replace it.
    expect(cluster(a).inputs).toEqual({
      name: name(a),
      driver: "bridge",
      labels: [
        { label: "com.slurm-cluster.project", value: "slurm-cluster" },
        { label: "com.slurm-cluster.stack", value: "ubuntu" },
        { label: "com.slurm-cluster.role", value: "network" },
      ],
    });
  });
});

describe("networks by role", () => {
  const networksOf = async (overrides: string[] = []) => {
    const run = await runWithMocks("ubuntu", overrides);
    const roleOf = Object.fromEntries(
      ofType(run, NETWORK).map((n) => [n.inputs.name, n.inputs.labels.find((l: { label: string }) => l.label === "com.slurm-cluster.role").value]),
    );
    const on = Object.fromEntries(
      ofType(run, CONTAINER).map((c) => [
        c.inputs.name.replace(/^slurm-ubuntu-/, ""),
        c.inputs.networksAdvanced.map((n: { name: string; aliases: string[] }) => `${roleOf[n.name]}:${n.aliases.join(",")}`).sort(),
      ]),
    );
    return { run, on, roleOf };
  };

  it("puts the database on the accounting network alone, slurmdbd and the Slurm exporter on two, the rest on one, with stable aliases", async () => {
    const { on, roleOf } = await networksOf(["grafana=true"]);
    expect(Object.values(roleOf).sort()).toEqual(["accounting-network", "monitoring-network", "network"]);
    expect(on).toEqual({
      database: ["accounting-network:database"],
      slurmdbd: ["accounting-network:slurmdbd", "network:slurmdbd"],
      controller: ["network:controller"],
      rest: ["network:rest"],
      login: ["network:login"],
      worker1: ["network:worker1"],
      worker2: ["network:worker2"],
      "slurm-exporter": ["monitoring-network:slurm-exporter", "network:slurm-exporter"],
      "node-exporter": ["monitoring-network:node-exporter"],
      prometheus: ["monitoring-network:prometheus"],
      alertmanager: ["monitoring-network:alertmanager"],
      grafana: ["monitoring-network:grafana"],
    });
  });

  it("makes the accounting network internal (nothing there needs a way out), the others not", async () => {
    const { run } = await networksOf();
    const byName = Object.fromEntries(ofType(run, NETWORK).map((n) => [n.name, n.inputs]));
    expect(byName["accounting-network"].internal).toBe(true);
    expect(byName["network"].internal).toBeUndefined();
    expect(byName["monitoring-network"].internal).toBeUndefined();
  });

  it("has no monitoring network without monitoring, and says so in the outputs", async () => {
    const { run, roleOf } = await networksOf(["monitoring=false"]);
    expect(Object.values(roleOf).sort()).toEqual(["accounting-network", "network"]);
    expect(run.outputs.networks).toEqual({ cluster: run.outputs.network, accounting: expect.stringMatching(/^slurm-ubuntu-accounting-net-/), monitoring: null });
  });

  it("gives slurmdbd the database by its alias on the accounting network", async () => {
    const { run } = await networksOf();
    const dbd = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-slurmdbd")!;
    const uploads = isWireSecret(dbd.inputs.uploads) ? dbd.inputs.uploads.value : dbd.inputs.uploads;
    const conf = uploads.find((u: { file: string }) => u.file === "/etc/slurm/slurmdbd.conf")!;
    const text = isWireSecret(conf.content) ? conf.content.value : conf.content;
    expect(text).toMatch(/^StorageHost=database$/m);
  });
});

describe("the REST API", () => {
  it("checks tokens with one JWT key, uploaded as a secret to slurmctld and slurmdbd only", async () => {
    const run = await runWithMocks("ubuntu");
    const keyOf = (name: string) => {
      const uploads = ofType(run, CONTAINER).find((c) => c.inputs.name === name)!.inputs.uploads;
      const list: { file: string; contentBase64?: string; permissions?: string }[] = isWireSecret(uploads) ? uploads.value : uploads;
      return list.find((u) => u.file === "/etc/slurm/jwt_hs256.key");
    };
    const ctl = keyOf("slurm-ubuntu-controller")!;
    expect(ctl.permissions).toBe("0600");
    expect(Buffer.from(ctl.contentBase64!, "base64")).toHaveLength(32);
    expect(keyOf("slurm-ubuntu-slurmdbd")!.contentBase64).toBe(ctl.contentBase64);
    for (const other of ["slurm-ubuntu-worker1", "slurm-ubuntu-rest", "slurm-ubuntu-slurm-exporter"]) expect(keyOf(other)).toBeUndefined();
    // Secret on its way to the provider, and nowhere in the outputs.
    expect(isWireSecret(ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-controller")!.inputs.uploads)).toBe(true);
    expect(JSON.stringify(printableOutputs(run.outputs as ResolvedOutput, false))).not.toContain(ctl.contentBase64);
  });

  it("runs slurmrestd published on the REST bind address only, and exports how to reach it", async () => {
    const run = await runWithMocks("ubuntu", ["restPort=16820"]);
    const rest = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-rest")!;
    expect(rest.inputs.command).toEqual(["rest"]);
    expect(rest.inputs.ports).toEqual([{ internal: 6820, external: 16820, ip: "127.0.0.1" }]);
    expect(rest.inputs.privileged).toBeUndefined();
    expect(rest.inputs.capabilities).toEqual({ drops: ["ALL"], adds: ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID"] });
    expect(run.outputs.rest).toEqual({
      url: "http://127.0.0.1:16820",
      openapiVersion: "v0.0.42",
      tokenCommand: "npx slurm-cluster token --user <user> -s ubuntu",
    });
  });

  it("has slurmctld and slurmdbd accept JWT besides munge", async () => {
    const run = await runWithMocks("ubuntu");
    const upload = (name: string, file: string) => {
      const uploads = ofType(run, CONTAINER).find((c) => c.inputs.name === name)!.inputs.uploads;
      return ((isWireSecret(uploads) ? uploads.value : uploads) as { file: string; content?: string }[]).find((u) => u.file === file)!.content!;
    };
    for (const conf of [upload("slurm-ubuntu-controller", "/etc/slurm/slurm.conf"), upload("slurm-ubuntu-slurmdbd", "/etc/slurm/slurmdbd.conf")]) {
      expect(conf).toMatch(/^AuthType=auth\/munge$/m);
      expect(conf).toMatch(/^AuthAltTypes=auth\/jwt$/m);
      expect(conf).toMatch(/^AuthAltParameters=jwt_key=\/etc\/slurm\/jwt_hs256\.key$/m);
    }
  });
});

// Several machines: a workers stack joins another stack's controller (StackReference), and a
// cluster stack publishes what they need. Through the program's own loader and the mock harness.
import { ClusterConfigError } from "../../config";
import { renderGresConf, renderPrometheusYml, renderSlurmConf, renderWorkerNodeConf, slurmConfForWorkers } from "../../config/render";
import { otherMachines } from "../../shared/slurm-exporter/discovery";
import { ResolvedOutput, printableOutputs } from "../../local-runner/program";
import { staleRecord } from "../../components/node-registration";
import { readStackConfig } from "../../local-runner/stack-config";
import { FIXTURE_MUNGE_KEY, readerOf, ubuntuJoin } from "./controller-fixture";
import { CONTAINER, IMAGE, isWireSecret, ofType, runWithMocks } from "./harness";
import { DEFAULT_FACTS } from "./fake-engine";
import { engineReporting, testSpec } from "./spec";

const REGISTRATION = "pulumi-nodejs:dynamic/slurm-cluster:NodeRegistration";
const UPGRADE_DRAIN = "pulumi-nodejs:dynamic/slurm-cluster:UpgradeDrain";
/** A container's uploads (a secret on the wire when they hold the munge key). */
const uploadsOf = (c: { inputs: Record<string, any> }): { file: string; content?: string }[] => // eslint-disable-line @typescript-eslint/no-explicit-any
  isWireSecret(c.inputs.uploads) ? c.inputs.uploads.value : c.inputs.uploads;
const upload = (c: { inputs: Record<string, any> }, file: string) => uploadsOf(c).find((u) => u.file === file)!; // eslint-disable-line @typescript-eslint/no-explicit-any
const qnapConfig = (extra: string[] = []) => readStackConfig("qnap", ["advertiseAddress=192.0.2.20", ...extra]);

describe("the qnap workers stack", () => {
  it("declares only its workers (and their network, shared volume and image), built for arm64", async () => {
    const run = await runWithMocks("qnap", ["monitoring=false"]);
    expect(run.error).toBeUndefined();
    expect(ofType(run, CONTAINER).map((c) => c.inputs.name)).toEqual(["slurm-qnap-qnap1", "slurm-qnap-qnap2"]);
    expect(ofType(run, IMAGE).map((i) => [i.inputs.imageName.split(":")[0], i.inputs.build.platform]).sort()).toEqual([
      ["slurm-cluster/slurm", "linux/arm64"],
      ["slurm-cluster/slurm-worker", "linux/arm64"],
    ]);
    const types = new Set(run.registrations.map((r) => r.type));
    expect([...types].sort()).toEqual(
      [
        "docker:index/container:Container", "docker:index/image:Image", "docker:index/network:Network", "docker:index/volume:Volume",
        "pulumi:providers:docker", "pulumi:pulumi:Stack", "pulumi:pulumi:StackReference", "slurm-cluster:index:WorkerNode", REGISTRATION, UPGRADE_DRAIN,
        "pulumi-nodejs:dynamic/slurm-cluster:LinuxUsers",
      ].sort(),
    );
    expect(run.registrations.find((r) => r.type === "pulumi:pulumi:StackReference")!.inputs.name).toBe("ubuntu");
  });

  it("publishes each slurmd on this host's address only, on its own port, and resolves the controller to its machine", async () => {
    const run = await runWithMocks("qnap");
    const byName = (name: string) => ofType(run, CONTAINER).find((c) => c.inputs.name === name)!;
    const [q1, q2] = [byName("slurm-qnap-qnap1"), byName("slurm-qnap-qnap2")];
    expect(q1.inputs.ports).toEqual([{ internal: 6818, external: 6818, ip: "192.0.2.20", protocol: "tcp" }]);
    expect(q2.inputs.ports).toEqual([{ internal: 6819, external: 6819, ip: "192.0.2.20", protocol: "tcp" }]);
    expect(q1.inputs.hosts).toEqual([{ host: "controller", ip: "127.0.0.1" }]);
    expect(upload(q2, "/etc/slurm/dynamic-node.conf").content).toBe("CPUs=1 RealMemory=512 Feature=qnap,arm64 Port=6819");
  });

  it("uses the controller stack's slurm.conf byte for byte on a native host and its munge key as a secret", async () => {
    const join = await ubuntuJoin("127.0.0.1");
    const run = await runWithMocks("qnap", [], false, { ...DEFAULT_FACTS, architecture: "aarch64" });
    const q1 = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-qnap-qnap1")!;
    expect(upload(q1, "/etc/slurm/slurm.conf").content).toBe(join.slurmConf);
    expect(isWireSecret(q1.inputs.uploads)).toBe(true);
    expect(JSON.stringify(q1.inputs.uploads)).toContain(FIXTURE_MUNGE_KEY);
    expect(JSON.stringify(printableOutputs(run.outputs as ResolvedOutput, false))).not.toContain(FIXTURE_MUNGE_KEY);
  });

  it("leaves the epilog out of slurm.conf where its arm64 workers are emulated (slurmd cannot exec one there)", async () => {
    const join = await ubuntuJoin("127.0.0.1");
    expect(join.slurmConf).toMatch(/^Epilog=\/bin\/true$/m);
    const run = await runWithMocks("qnap"); // the default engine is amd64
    const conf = upload(ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-qnap-qnap1")!, "/etc/slurm/slurm.conf").content!;
    expect(conf).not.toMatch(/^Epilog=/m);
    expect(conf).toBe(slurmConfForWorkers(join.slurmConf, true));
  });

  it("runs this machine's node exporter, published on its address only, for the cluster's Prometheus", async () => {
    const run = await runWithMocks("qnap");
    const exporter = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-qnap-node-exporter")!;
    expect(exporter.inputs.ports).toEqual([{ internal: 9100, external: 9100, ip: "192.0.2.20", protocol: "tcp" }]);
    expect(ofType(run, IMAGE).map((i) => [i.inputs.imageName.split(":")[0], i.inputs.build.platform]).sort()).toEqual([
      ["slurm-cluster/monitoring", "linux/arm64"],
      ["slurm-cluster/slurm", "linux/arm64"],
      ["slurm-cluster/slurm-worker", "linux/arm64"],
    ]);
    expect(run.outputs.monitoring).toEqual({ nodeExporterUrl: "http://192.0.2.20:9100/metrics" });
    const clash = await testSpec(qnapConfig(["nodeExporterPort=6819"]), "qnap", engineReporting(1), readerOf(await ubuntuJoin())).catch((e: Error) => e);
    expect((clash as Error).message).toMatch(/nodeExporterPort = "6819": expected a port none of the 2 slurmd ports/);
  });

  it("checks registration from each worker itself (the controller's engine is on another machine)", async () => {
    const run = await runWithMocks("qnap");
    expect(ofType(run, REGISTRATION).map((r) => [r.inputs.nodeName, r.inputs.scontrolContainer])).toEqual([
      ["qnap1", "slurm-qnap-qnap1"],
      ["qnap2", "slurm-qnap-qnap2"],
    ]);
  });

  it("reports its nodes, partition and platform in its outputs", async () => {
    const run = await runWithMocks("qnap");
    expect(run.outputs).toMatchObject({ role: "workers", clusterName: "ubuntu", controllerStack: "ubuntu", partition: "qnap", platform: "linux/arm64" });
    expect((run.outputs.nodes as { name: string; slurmdPort: number }[]).map((n) => [n.name, n.slurmdPort])).toEqual([["qnap1", 6818], ["qnap2", 6819]]);
  });
});

describe("a workers stack refuses, before creating anything", () => {
  const refused = async (join: unknown, extra: string[] = [], reachable?: () => string | undefined, stack = "qnap") => {
    const config = stack === "qnap" ? qnapConfig(extra) : readStackConfig(stack, ["advertiseAddress=192.0.2.20", ...extra]);
    const err = await testSpec(config, stack, engineReporting(1), readerOf(join, reachable)).then(() => undefined, (e: Error) => e);
    expect(err).toBeInstanceOf(ClusterConfigError);
    return err!.message;
  };

  it("a controller stack with no outputs yet", async () => {
    expect(await refused(undefined)).toMatch(/slurm-cluster:controllerStack = "ubuntu": the stack has no outputs yet \(no "join" output\): run up on ubuntu first/);
  });
  it("a controller stack that publishes slurmctld for no other machine", async () => {
    expect(await refused({ ...(await ubuntuJoin()), controllerAddress: null })).toMatch(/publishes slurmctld for no other machine: set slurm-cluster:advertiseAddress on ubuntu/);
  });
  it("another Slurm version (another Debian release as the base)", async () => {
    expect(await refused({ ...(await ubuntuJoin()), baseImage: "debian:bookworm-slim", slurmVersion: "22.05.8" })).toMatch(
      /the controller runs Slurm 22\.05\.8 from debian:bookworm-slim; this stack would build from debian:trixie-slim/,
    );
  });
  it("an unreachable controller", async () => {
    expect(await refused(await ubuntuJoin(), [], () => "connect ECONNREFUSED")).toMatch(/slurmctld at 192\.0\.2\.1:6817 cannot be reached from this machine \(connect ECONNREFUSED\)/);
  });
  it("node names the cluster already has", async () => {
    expect(await refused(await ubuntuJoin(), ["nodePrefix=worker"])).toMatch(/its cluster already has node\(s\) worker1, worker2; set slurm-cluster:nodePrefix/);
  });
  it("a partition the cluster does not declare", async () => {
    expect(await refused(await ubuntuJoin(), ["partition=garage"])).toMatch(/declares the partitions ubuntu, macos, qnap, not garage/);
  });
  it("another cgroupMode than the cluster's", async () => {
    expect(await refused(await ubuntuJoin(), ["cgroupMode=systemd"])).toMatch(/the cluster's cgroupMode is none .* this stack sets systemd/);
  });
  it("an output this program did not write", async () => {
    expect(await refused({ clusterName: "x" })).toMatch(/its "join" output is not one this program writes/);
  });
  it("GPUs on the macos stack (Docker Desktop has no GPU passthrough)", async () => {
    expect(await refused(await ubuntuJoin(), ["gpusPerWorker=1"], undefined, "macos")).toMatch(/gpusPerWorker = "1" on the macos partition: Docker Desktop passes no GPU/);
  });
  it("GPUs on any stack whose engine is Docker Desktop", async () => {
    const err = await testSpec({ "slurm-cluster:gpusPerWorker": "1" }, "ubuntu", engineReporting(2, 8192, "linux/arm64", true)).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/on Docker Desktop: Docker Desktop passes no GPU/);
  });
  it("no controllerStack or advertiseAddress", async () => {
    const err = await testSpec({ "slurm-cluster:role": "workers" }, "qnap").catch((e: Error) => e);
    expect((err as Error).message).toMatch(/controllerStack is empty[\s\S]*advertiseAddress is empty/);
  });
  it("through the program: no resource but the StackReference", async () => {
    const run = await runWithMocks("qnap", [], false, undefined, {});
    expect(run.error?.message).toMatch(/the stack has no outputs yet/);
    expect(run.registrations.filter((r) => !["pulumi:pulumi:Stack", "pulumi:pulumi:StackReference"].includes(r.type))).toEqual([]);
  });
});

describe("a cluster stack that other machines join", () => {
  it("publishes slurmctld and srun's ports on advertiseAddress only, and nothing without it", async () => {
    const ctl = async (extra: string[]) => ofType(await runWithMocks("ubuntu", extra), CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-controller")!;
    const published = (await ctl(["advertiseAddress=192.0.2.1"])).inputs.ports as { internal: number; external: number; ip: string }[];
    expect(published.map((p) => p.internal)).toEqual([6817, ...Array.from({ length: 32 }, (_, i) => 60001 + i)]);
    expect(new Set(published.map((p) => p.ip))).toEqual(new Set(["192.0.2.1"]));
    expect((await ctl([])).inputs.ports).toBeUndefined();
    const all = ofType(await runWithMocks("ubuntu", ["advertiseAddress=192.0.2.1", "monitoring=false"]), CONTAINER);
    for (const name of ["slurm-ubuntu-slurmdbd", "slurm-ubuntu-database"]) expect(all.find((c) => c.inputs.name === name)!.inputs.ports).toBeUndefined();
  });

  it("has Prometheus find the other machines' node exporters through the Slurm exporter", async () => {
    const spec = await testSpec({}, "ubuntu");
    expect(renderPrometheusYml(spec, spec.monitoring!)).toContain(
      "  - job_name: machines\n    http_sd_configs:\n      - url: http://slurm-exporter:8080/sd/node-exporters\n        refresh_interval: 15s\n",
    );
  });

  it("declares a partition per machine as a node set by feature, and one default partition with every node", async () => {
    const conf = renderSlurmConf(await testSpec({}, "ubuntu"));
    expect(conf).toMatch(/^PartitionName=main Nodes=ALL Default=YES/m);
    for (const p of ["ubuntu", "macos", "qnap"]) {
      expect(conf).toContain(`NodeSet=${p}_nodes Feature=${p}\nPartitionName=${p} Nodes=${p}_nodes`);
    }
    expect(conf).toMatch(/^TreeWidth=256$/m);
    expect(conf).toMatch(/^SrunPortRange=60001-60032$/m);
  });

  it("exports a join output with its address, partitions, node names, slurm.conf and the munge key as a secret", async () => {
    const run = await runWithMocks("ubuntu", ["advertiseAddress=192.0.2.1"]);
    const join = run.outputs.join as Record<string, ResolvedOutput>;
    expect(join).toMatchObject({ controllerAddress: "192.0.2.1", slurmctldPort: 6817, partitions: ["ubuntu", "macos", "qnap"], nodeNames: ["worker1", "worker2"] });
    expect(Object.keys(join.mungeKeyBase64 as object)).toEqual(["secret"]);
  });
});

describe("GPUs", () => {
  const gpuSpec = (extra: Record<string, string> = {}) =>
    testSpec({ "slurm-cluster:gpusPerWorker": "2", "slurm-cluster:gpuType": "a100", ...extra }, "ubuntu", engineReporting(1));

  it("announce Gres on the node and list each worker's own device files in gres.conf", async () => {
    const spec = await gpuSpec();
    expect(renderWorkerNodeConf(spec, spec.workers[1])).toBe("CPUs=2 RealMemory=1024 Feature=ubuntu,amd64,gpu Gres=gpu:a100:2");
    expect(renderGresConf(spec, spec.workers[1])).toMatch(/AutoDetect=off\nName=gpu Type=a100 File=\/dev\/nvidia2\nName=gpu Type=a100 File=\/dev\/nvidia3\n/);
    expect(renderSlurmConf(spec)).toMatch(/^GresTypes=gpu$/m);
  });

  it("hand each worker its device files, or the NVIDIA runtime's devices by index", async () => {
    const run = await runWithMocks("ubuntu", ["gpusPerWorker=1", "gpuDevices=/tmp/gpus/nvidia0,/tmp/gpus/nvidia1"]);
    const w2 = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-worker2")!;
    expect(w2.inputs.devices).toEqual([{ hostPath: "/tmp/gpus/nvidia1", containerPath: "/dev/nvidia1", permissions: "rwm" }]);
    expect(upload(w2, "/etc/slurm/gres.conf").content).toContain("Name=gpu File=/dev/nvidia1");
    const runtime = await runWithMocks("ubuntu", ["gpusPerWorker=2", "nvidiaRuntime=true"]);
    const r2 = ofType(runtime, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-worker2")!;
    expect([r2.inputs.gpus, r2.inputs.devices]).toEqual(['"device=2,3"', undefined]);
  });

  it("refuse a device list that does not give every worker its share", async () => {
    await expect(gpuSpec({ "slurm-cluster:gpuDevices": "/dev/nvidia0,/dev/nvidia1,/dev/nvidia2" })).rejects.toThrow(/names 3 device file\(s\); 2 workers x 2 slurm-cluster:gpusPerWorker need 4/);
  });
});

describe("finding the other machines' node exporters", () => {
  // Abridged from `scontrol --json show nodes` with the three stacks up (tests/e2e/several-machines.test.ts).
  const nodes = {
    nodes: [
      { name: "worker1", address: "172.21.0.5", features: ["ubuntu", "amd64"] },
      { name: "qnap2", address: "10.77.0.211", features: ["qnap", "arm64"] },
      { name: "qnap1", address: "10.77.0.211", features: ["qnap", "arm64"] },
      { name: "mac1", address: "10.77.0.72", features: ["macos", "amd64"] },
      { name: "old", features: ["macos"] },
    ],
  };

  it("gives one target per other machine's address, labelled with its partition and nodes, and leaves this machine out", () => {
    expect(otherMachines(nodes, { cluster: "ubuntu", partition: "ubuntu", port: 9100 })).toEqual([
      { targets: ["10.77.0.211:9100"], labels: { cluster: "ubuntu", machine: "qnap", slurm_nodes: "qnap1,qnap2" } },
      { targets: ["10.77.0.72:9100"], labels: { cluster: "ubuntu", machine: "macos", slurm_nodes: "mac1" } },
    ]);
    expect(otherMachines({}, { cluster: "c", partition: "ubuntu", port: 9100 })).toEqual([]);
  });
});

describe("the registration check's view of a node record slurmctld kept", () => {
  const announced = { cpus: 2, memoryMb: 1024, features: ["ubuntu", "amd64", "gpu"], gres: "gpu:2" };
  const record = { state: "IDLE", cpus: 2, memoryMb: 1024, features: ["amd64", "gpu", "ubuntu"], gres: "gpu:2" };
  it("is current when size, features (any order) and GRES are what the worker announces", () => {
    expect(staleRecord(record, announced)).toBe(false);
  });
  it.each([
    ["INVALID_REG (fewer GPUs than remembered)", { state: "IDLE+DRAIN+INVALID_REG" }],
    ["GPUs added since", { gres: "", features: ["ubuntu", "amd64"] }],
    ["another size", { cpus: 4 }],
  ])("is stale on %s", (_why, change) => {
    expect(staleRecord({ ...record, ...change }, announced)).toBe(true);
  });
});

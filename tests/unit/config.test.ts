import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { CONFIG_KEYS, CONFIG_KEY_NAMES } from "../../config/keys";
import { ClusterConfigError } from "../../config/parse";
import { engineReporting, testSpec } from "./spec";
import { PROJECT_ROOT } from "../../local-runner/program";
import { readerOf, ubuntuJoin } from "./controller-fixture";
import { readStackConfig } from "../../local-runner/stack-config";
import { runWithMocks } from "./harness";

const parse = (raw: Record<string, string>) => testSpec(raw, "test");

describe("parseClusterConfig", () => {
  it("fills every key with its default", async () => {
    const spec = await parse({});
    expect(spec).toMatchObject({
      clusterName: "hpc",
      cgroupMode: "none",
      baseImage: "debian:trixie-slim",
      workerCpus: 2,
      workerMemoryMb: 1024,
      registrationTimeoutSeconds: 180,
      volumes: { shared: "slurm-test-shared" },
    });
    expect(spec.workers.map((w) => w.nodeName)).toEqual(["worker1", "worker2"]);
  });

  it("reads numbers from the strings Pulumi stores and leaves other namespaces alone", async () => {
    const spec = await parse({ "slurm-cluster:workerCount": "3", "slurm-cluster:workerMemoryMb": "2048", "docker:host": "unix:///x" });
    expect(spec.workers).toHaveLength(3);
    expect(spec.workerMemoryMb).toBe(2048);
  });

  it("reports every problem at once", async () => {
    let error: unknown;
    try {
      await parse({ "slurm-cluster:workerCount": "0", "slurm-cluster:clusterName": "Bad Name" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ClusterConfigError);
    expect((error as ClusterConfigError).problems).toHaveLength(2);
  });
});

// Each bad value: the message names the key, the value and what is allowed, and nothing is created.
const BAD_CONFIG: [string, string, RegExp][] = [
  ["workerMemoryHeadroomMb=10", "workerMemoryHeadroomMb", /slurm-cluster:workerMemoryHeadroomMb = "10": expected auto \(128 MiB, 192 MiB with systemd\) or a whole number of MiB from 64 to 65536/],
  ["workerMemoryHeadroomMb=lots", "workerMemoryHeadroomMb", /slurm-cluster:workerMemoryHeadroomMb = "lots": expected auto/],
  ["workerCount=0", "workerCount", /slurm-cluster:workerCount = "0": expected a whole number from 1 to 64/],
  ["workerCount=5000", "workerCount", /slurm-cluster:workerCount = "5000": expected a whole number from 1 to 64/],
  ["workerCount=two", "workerCount", /slurm-cluster:workerCount = "two": expected a whole number/],
  ["workerCount=1.5", "workerCount", /slurm-cluster:workerCount = "1.5": expected a whole number/],
  ["clusterName=My-Cluster", "clusterName", /slurm-cluster:clusterName = "My-Cluster": expected a lower case letter, then lower case letters, digits or _/],
  ["clusterName=a_name_that_is_far_too_long_for_slurmdbd_tables", "clusterName", /at most 40 characters/],
  ["workerMemoryMb=128", "workerMemoryMb", /slurm-cluster:workerMemoryMb = "128": expected a whole number of MiB from 256/],
  ["workerCpus=0", "workerCpus", /slurm-cluster:workerCpus = "0": expected a whole number from 1 to 256/],
  ["cgroupMode=bogus", "cgroupMode", /slurm-cluster:cgroupMode = "bogus": expected one of none, cgroup, systemd/],
  ["hostCgroupVersion=3", "hostCgroupVersion", /slurm-cluster:hostCgroupVersion = "3": expected auto \(ask the Docker engine\), 1 or 2/],
  ["allowPrivileged=yes", "allowPrivileged", /slurm-cluster:allowPrivileged = "yes": expected true or false/],
  ["slurmRelease=25.11", "slurmRelease", /^  - slurm-cluster:slurmRelease = "25.11": expected one of 24.11 \(Debian trixie\), 26.05 \(Debian forky\)$/m],
  ["slurmRelease=latest", "slurmRelease", /slurm-cluster:slurmRelease = "latest": expected one of 24.11/],
  ["baseImage=Not An Image", "baseImage", /slurm-cluster:baseImage = "Not An Image": expected a Docker image reference/],
  ["registrationTimeoutSeconds=1", "registrationTimeoutSeconds", /registrationTimeoutSeconds = "1": expected a whole number of seconds from 10 to 3600/],
  ["jobRuntimes=maybe", "jobRuntimes", /slurm-cluster:jobRuntimes = "maybe": expected true or false/],
  ["networkSubnet=10.0.0.0/8", "networkSubnet", /slurm-cluster:networkSubnet = "10.0.0.0\/8": expected an IPv4 range in CIDR form from \/16 to \/28/],
  ["networkSubnet=172.31.250.0", "networkSubnet", /slurm-cluster:networkSubnet = "172.31.250.0": expected an IPv4 range/],
  ["workerCont=2", "workerCont", /slurm-cluster:workerCont is not a known key; known keys: slurm-cluster:role/],
];

describe("slurmRelease", () => {
  it("24.11 by default, built from Debian 13; 26.05 from Debian testing; baseImage still overrides", async () => {
    expect(await parse({})).toMatchObject({ slurmRelease: "24.11", baseImage: "debian:trixie-slim" });
    expect(await parse({ "slurm-cluster:slurmRelease": "26.05" })).toMatchObject({ slurmRelease: "26.05", baseImage: "debian:forky-slim" });
    expect(await parse({ "slurm-cluster:slurmRelease": "26.05", "slurm-cluster:baseImage": "mirror.example/debian:forky-slim" })).toMatchObject({
      baseImage: "mirror.example/debian:forky-slim",
    });
  });

  it("builds every image FROM the release's base, with the release in its build arguments and leading its tag", async () => {
    for (const [release, base] of [["24.11", "debian:trixie-slim"], ["26.05", "debian:forky-slim"]]) {
      const run = await runWithMocks("ubuntu", [`slurmRelease=${release}`, "grafana=false"]);
      expect(run.error).toBeUndefined();
      const images = run.registrations.filter((r) => r.type === "docker:index/image:Image");
      expect(images.length).toBeGreaterThanOrEqual(6);
      for (const image of images) {
        expect(image.inputs.imageName).toMatch(new RegExp(`^slurm-cluster/[a-z-]+:${release.replace(".", "\\.")}-[0-9a-f]{12}$`));
        expect(image.inputs.build.args.SLURM_RELEASE).toBe(release);
        if (image.inputs.build.args.BASE_IMAGE !== undefined) expect(image.inputs.build.args.BASE_IMAGE).toBe(base);
      }
    }
  });

  it("a base image the engine holds for another architecture is refused in one line naming the command that makes the right one", async () => {
    const engine = { ...engineReporting(2), imagePlatform: async (_host: string, image: string) => (image === "debian:forky-slim" ? "linux/amd64" : undefined) };
    const refusal = testSpec({ "slurm-cluster:slurmRelease": "26.05", "slurm-cluster:platform": "linux/arm64", "docker:host": "unix:///x.sock" }, "ubuntu", engine);
    await expect(refusal).rejects.toThrow(ClusterConfigError);
    await expect(refusal).rejects.toThrow(
      /^  - slurm-cluster:slurmRelease = "26\.05": the base image debian:forky-slim on the Docker engine at unix:\/\/\/x\.sock is linux\/amd64, and this stack builds linux\/arm64; make the linux\/arm64 one there: DOCKER_HOST=unix:\/\/\/x\.sock PLATFORM=linux\/arm64 bash scripts\/base-image\.sh debian:forky-slim forky$/m,
    );
    // The same engine, the engine's own platform: accepted; a base it does not hold is left to the build.
    await expect(testSpec({ "slurm-cluster:slurmRelease": "26.05", "docker:host": "unix:///x.sock" }, "ubuntu", engine)).resolves.toMatchObject({ baseImage: "debian:forky-slim" });
    await expect(testSpec({ "slurm-cluster:platform": "linux/arm64", "docker:host": "unix:///x.sock" }, "ubuntu", engine)).resolves.toMatchObject({ platform: "linux/arm64" });
  });

  it("a workers stack may stay on an older release than its controller (SchedMD's window), never a newer one", async () => {
    const workers = { "slurm-cluster:role": "workers", "slurm-cluster:controllerStack": "ubuntu", "slurm-cluster:advertiseAddress": "192.168.1.20" };
    // 24.11 workers under a 26.05 controller: a mixed cluster until the workers stack is upgraded.
    const newer = { ...(await ubuntuJoin()), baseImage: "debian:forky-slim", slurmVersion: "26.05.5" };
    await expect(testSpec(workers, "macos", engineReporting(2), readerOf(newer))).resolves.toMatchObject({ slurmRelease: "24.11", baseImage: "debian:trixie-slim" });
    // 26.05 workers under a 24.11 controller: slurmd newer than slurmctld is refused.
    const older = { ...(await ubuntuJoin()), slurmVersion: "24.11.5" };
    await expect(testSpec({ ...workers, "slurm-cluster:slurmRelease": "26.05" }, "macos", engineReporting(2), readerOf(older))).rejects.toThrow(
      /controller runs Slurm 24\.11\.5, older than this stack's 26\.05; slurmd may not be newer than slurmctld: upgrade ubuntu to 26\.05 first, or set slurm-cluster:slurmRelease=24\.11 here$/m,
    );
    // With baseImage set the release is not known from the config: the base must be the controller's.
    const far = { ...(await ubuntuJoin()), baseImage: "debian:forky-slim", slurmVersion: "26.05.5" };
    await expect(
      testSpec({ ...workers, "slurm-cluster:baseImage": "debian:bookworm-slim" }, "macos", engineReporting(2), readerOf(far)),
    ).rejects.toThrow(/controller runs Slurm 26\.05\.5 from debian:forky-slim; this stack would build from debian:bookworm-slim/);
  });
});

describe.each(BAD_CONFIG)("bad config %s", (override, _key, message) => {
  it("fails with a clear message and declares no resource", async () => {
    const run = await runWithMocks("ubuntu", [override]);
    expect(run.error).toBeDefined();
    expect(run.error!.message).toMatch(/The stack config is not valid; nothing was created/);
    expect(run.error!.message).toMatch(message);
    // Only the root stack component may exist; no custom resource was registered.
    expect(run.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
  });
});

describe("hostCgroupVersion=auto", () => {
  const saved = process.env.DOCKER_HOST;
  afterEach(() => {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
  });

  it("asks the Docker engine for its cgroup version", async () => {
    const run = await runWithMocks("ubuntu", ["hostCgroupVersion=auto", "cgroupMode=cgroup"], false, { cgroupVersion: 2, memoryMiB: 8192, serverVersion: "28.5.2" });
    expect(run.error).toBeUndefined();
    expect(run.outputs.hostCgroupVersion).toBe(2);
  });

  it("asks the Docker engine, and without one says how to set the version by hand; nothing is created", async () => {
    const run = await runWithMocks("ubuntu", ["hostCgroupVersion=auto", "docker:host=unix:///nonexistent/docker.sock"]);
    expect(run.error?.message).toMatch(/hostCgroupVersion is auto, but the Docker engine at unix:\/\/\/nonexistent\/docker\.sock did not answer .*set slurm-cluster:hostCgroupVersion to 1 or 2/);
    expect(run.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
  });
});

describe("Pulumi.yaml", () => {
  const project = yaml.load(fs.readFileSync(path.join(PROJECT_ROOT, "Pulumi.yaml"), "utf8")) as {
    name: string;
    config: Record<string, { type: string; default: unknown }>;
  };

  it("declares exactly the keys the program reads, with the same defaults", async () => {
    expect(project.name).toBe("slurm-cluster");
    expect(Object.keys(project.config).sort()).toEqual([...CONFIG_KEY_NAMES].sort());
    for (const key of CONFIG_KEY_NAMES) {
      expect({ key, value: project.config[key].default }).toEqual({ key, value: CONFIG_KEYS[key].default });
      const type = { number: "integer", boolean: "boolean", string: "string" }[typeof CONFIG_KEYS[key].default as string];
      expect({ key, type: project.config[key].type }).toEqual({ key, type });
    }
  });

  it("stack file Pulumi.ubuntu.yaml is a valid cluster", async () => {
    const spec = await testSpec(readStackConfig("ubuntu"), "ubuntu");
    expect([spec.role, spec.clusterName, spec.partition]).toEqual(["cluster", "ubuntu", "ubuntu"]);
  });

  it.each([
    ["macos", "mac1", "linux/amd64"],
    ["qnap", "qnap1", "linux/arm64"],
  ])("stack file Pulumi.%s.yaml is a valid workers stack joining ubuntu", async (stack, firstNode, platform) => {
    const reader = readerOf(await ubuntuJoin());
    const spec = await testSpec(readStackConfig(stack, ["advertiseAddress=192.0.2.20"]), stack, engineReporting(1), reader);
    expect(reader.asked).toEqual(["ubuntu"]);
    expect([spec.role, spec.clusterName, spec.partition, spec.workers[0].nodeName, spec.platform]).toEqual(["workers", "ubuntu", stack, firstNode, platform]);
  });
});

describe("workers that do not fit the engine's memory", () => {
  it("are refused before anything is created, with the arithmetic", async () => {
    const run = await runWithMocks("ubuntu", ["workerCount=16", "workerMemoryMb=1024"], false, { cgroupVersion: 1, memoryMiB: 8000 });
    expect(run.error?.message).toMatch(
      /slurm-cluster:workerCount = "16": 16 workers x \(1024 MiB workerMemoryMb \+ 128 MiB headroom\) = 18432 MiB of container memory limits, more than the 8000 MiB the Docker engine at tcp:\/\/127\.0\.0\.1:\d+ has/,
    );
    expect(run.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
  });

  it("fit when the headroom is lowered: 64 workers of 256 MiB on a 24 GiB host", async () => {
    const run = await runWithMocks("ubuntu", ["workerCount=64", "workerMemoryMb=256", "workerCpus=1", "workerMemoryHeadroomMb=64", "monitoring=false"]);
    expect(run.error).toBeUndefined();
    expect(run.registrations.filter((r) => r.type === "docker:index/container:Container")).toHaveLength(69);
  }, 30_000);
});

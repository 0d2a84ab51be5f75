import * as pulumi from "@pulumi/pulumi";
import { ControllerJoin, ControllerStackReader, JOIN_SCHEMA, pulumiStackReader } from "./controller-stack";
import { detectHostCgroupVersion, engineAddressProblem, engineContainerImage, engineCgroupSupport, engineImagePlatform, engineMemoryBytes, enginePlatform, resolveDockerHost } from "./host";
import { workerContainerSettings } from "./render/container-settings";
import { CONFIG_NAMESPACE, baseImageOf, ClusterSettings, EngineCgroupSupport, HostCgroupVersion, Platform, SLURM_RELEASES } from "./keys";
import { ClusterConfigError, validateClusterConfig } from "./parse";
import { RELEASES_READ_BACK, ReleaseUpgrade, planReleaseChange, releaseOfImage, releaseOfVersion, releaseSteps } from "./upgrade";
import { readUsersPublicKeys } from "./ssh-keys";
import { ClusterSpec, buildSpec, nodeNamesOf, partitionOf } from "./spec";

export type { ClusterSpec, WorkerSpec } from "./spec";
export type { ControllerJoin, ControllerStackReader } from "./controller-stack";
export { ClusterConfigError } from "./parse";

/** What the spec needs to know of the Docker engine, asked only when the config says auto. */
export interface EngineQuery {
  hostCgroupVersion(dockerHost: string): Promise<HostCgroupVersion>;
  memoryBytes(dockerHost: string): Promise<number>;
  /** The engine's own architecture, and whether it is Docker Desktop (no GPU passthrough). */
  platform(dockerHost: string): Promise<{ platform: Platform; dockerDesktop: boolean }>;
  /** The engine's cgroup driver and whether it offers writable-cgroups (a worker's own cgroup subtree). */
  cgroupSupport(dockerHost: string): Promise<EngineCgroupSupport>;
  /** The platform of an image the engine holds (the base image), undefined when it has none. */
  imagePlatform?(dockerHost: string, image: string): Promise<string | undefined>;
  /** The image the first of these containers that exists runs, undefined when none exists. */
  containerImage?(dockerHost: string, containers: readonly string[]): Promise<string | undefined>;
}

/** The real engine, through its API. */
const dockerEngineQuery: EngineQuery = {
  hostCgroupVersion: detectHostCgroupVersion,
  memoryBytes: engineMemoryBytes,
  platform: enginePlatform,
  cgroupSupport: engineCgroupSupport,
  imagePlatform: engineImagePlatform,
  containerImage: engineContainerImage,
};

/**
 * A base image the engine holds for another architecture than the stack builds: the classic
 * builder would build FROM it anyway (or fail pulling the right one offline), so it is refused
 * naming the command that makes the right one. A base the engine does not hold is left to the
 * build (it pulls where a registry is reachable; air-gapped, README "Troubleshooting").
 */
async function baseImageProblem(settings: ClusterSettings, platform: Platform, dockerHost: string, engine: EngineQuery): Promise<string | undefined> {
  const release = SLURM_RELEASES[settings.slurmRelease];
  const base = baseImageOf(settings);
  const held = await engine.imagePlatform?.(dockerHost, base);
  if (held === undefined || held === platform) return undefined;
  return (
    `${key(settings.baseImage ? "baseImage" : "slurmRelease")} = "${settings.baseImage || settings.slurmRelease}": the base image ${base} on the Docker engine at ${dockerHost} ` +
    `is ${held}, and this stack builds ${platform}; make the ${platform} one there: DOCKER_HOST=${dockerHost} PLATFORM=${platform} bash scripts/base-image.sh ${base} ${release.suite}`
  );
}

const key = (k: string) => `${CONFIG_NAMESPACE}:${k}`;

/**
 * A workers stack's controller: its stack's join output, checked against this stack before
 * anything is created: outputs present, an address to reach, the same Slurm, a partition the
 * cluster declares, node names it does not use, and slurmctld reachable from here.
 */
async function readController(settings: ClusterSettings, stack: string, reader: ControllerStackReader): Promise<ControllerJoin & { stack: string }> {
  const other = settings.controllerStack;
  const fail = (problem: string): never => {
    throw new ClusterConfigError([`${key("controllerStack")} = ${JSON.stringify(other)}: ${problem}`]);
  };
  let raw: unknown;
  try {
    raw = await reader.join(other);
  } catch (err) {
    fail(`cannot read the stack's outputs (${(err as Error).message})`);
  }
  if (raw === undefined || raw === null) fail(`the stack has no outputs yet (no "join" output): run up on ${other} first`);
  const parsed = JOIN_SCHEMA.safeParse(raw);
  if (!parsed.success) fail(`its "join" output is not one this program writes (${parsed.error.issues.map((i) => i.path.join(".") || "join").join(", ")}); run up on ${other} with this version first`);
  const join = parsed.data!;
  if (!join.controllerAddress) {
    fail(`the stack publishes slurmctld for no other machine: set ${key("advertiseAddress")} on ${other} (its host's address) and run up there`);
  }
  const baseImage = baseImageOf(settings);
  // slurmd may be older than slurmctld, by as many releases as slurmctld reads back (SchedMD), never newer.
  const controllerRelease = join.slurmVersion ? releaseOfVersion(join.slurmVersion) : undefined;
  const behind = settings.baseImage || !controllerRelease ? undefined : releaseSteps(settings.slurmRelease, controllerRelease);
  if (behind !== undefined && behind < 0) {
    fail(
      `the controller runs Slurm ${join.slurmVersion}, older than this stack's ${settings.slurmRelease}; slurmd may not be newer than slurmctld: ` +
        `upgrade ${other} to ${settings.slurmRelease} first, or set ${key("slurmRelease")}=${controllerRelease} here`,
    );
  }
  if (behind !== undefined && behind > RELEASES_READ_BACK) {
    fail(`the controller runs Slurm ${join.slurmVersion}, which talks to slurmd of the ${RELEASES_READ_BACK} releases before it only; set ${key("slurmRelease")}=${controllerRelease} here`);
  }
  if (behind === undefined && join.baseImage !== baseImage) {
    const release = Object.entries(SLURM_RELEASES).find(([, r]) => r.baseImage === join.baseImage)?.[0];
    fail(
      `the controller runs Slurm ${join.slurmVersion || "(version unknown)"} from ${join.baseImage}; this stack would build from ${baseImage}, ` +
        `another Debian release and so another Slurm version; set ` +
        (release && !settings.baseImage ? `${key("slurmRelease")}=${release}` : `${key("baseImage")}=${join.baseImage}`),
    );
  }
  // none is the default: a workers stack that leaves it takes the cluster's mode.
  if (settings.cgroupMode !== "none" && settings.cgroupMode !== join.cgroupMode) {
    fail(`the cluster's cgroupMode is ${join.cgroupMode} (slurm.conf is one for the whole cluster); this stack sets ${settings.cgroupMode}: remove ${key("cgroupMode")} here`);
  }
  const partition = partitionOf({ partition: settings.partition, stack });
  if (!join.partitions.includes(partition)) {
    fail(`its slurm.conf declares the partitions ${join.partitions.join(", ")}, not ${partition}: set ${key("partition")} to one of them, or add ${partition} to ${key("platformPartitions")} on ${other}`);
  }
  const names = nodeNamesOf({ ...settings, stack });
  const taken = names.filter((n) => join.nodeNames.includes(n));
  if (taken.length > 0) fail(`its cluster already has node(s) ${taken.join(", ")}; set ${key("nodePrefix")} to a name unique in the cluster`);
  const unreachable = await reader.reach(join.controllerAddress!, join.slurmctldPort);
  if (unreachable) {
    fail(`slurmctld at ${join.controllerAddress}:${join.slurmctldPort} cannot be reached from this machine (${unreachable}); check the address, the link and firewalls`);
  }
  return { ...join, stack: other };
}

/**
 * The release change this `up` makes: the stack's running Slurm containers (the controller; a
 * workers stack's workers) are asked which release their image carries. A downgrade, or a jump
 * further than Slurm reads back, is refused here, before anything changes.
 */
async function releaseChange(spec: ClusterSpec, wanted: ClusterSettings["slurmRelease"], engine: EngineQuery): Promise<ReleaseUpgrade | undefined> {
  if (!engine.containerImage) return undefined;
  const containers = spec.role === "cluster" ? [spec.containers.controller] : spec.workers.map((w) => w.containerName);
  let image: string | undefined;
  try {
    image = await engine.containerImage(spec.dockerHost, containers);
  } catch (err) {
    throw new pulumi.RunError((err as Error).message);
  }
  const running = image === undefined ? undefined : releaseOfImage(image);
  const where = spec.role === "cluster" ? `the stack's controller (${containers[0]})` : `the stack's workers`;
  const plan = planReleaseChange(running, wanted, where);
  if (plan.problem) throw new ClusterConfigError([plan.problem]);
  return plan.upgrade;
}

/** Refuses a worker count whose container memory limits add up to more than the engine has. */
function checkFitsEngine(spec: ClusterSpec, memoryBytes: number): void {
  const perWorker = spec.workerMemoryMb + workerContainerSettings(spec).memoryHeadroomMb;
  const total = spec.workers.length * perWorker;
  const available = Math.floor(memoryBytes / 2 ** 20);
  if (total > available) {
    throw new ClusterConfigError([
      `slurm-cluster:workerCount = "${spec.workers.length}": ${spec.workers.length} workers x (${spec.workerMemoryMb} MiB workerMemoryMb + ` +
        `${perWorker - spec.workerMemoryMb} MiB headroom) = ${total} MiB of container memory limits, more than the ${available} MiB ` +
        `the Docker engine at ${spec.dockerHost} has; lower workerCount, workerMemoryMb or workerMemoryHeadroomMb`,
    ]);
  }
}

/**
 * Refuses a worker mode that would write the host's cgroups (or need CAP_SYS_ADMIN) because the
 * host cannot delegate a worker only its own subtree, unless the stack allows it.
 */
function checkCgroupGrants(spec: ClusterSpec): void {
  const why = workerContainerSettings(spec).hostCgroupWrite;
  if (why && !spec.allowHostCgroupWrite) {
    throw new ClusterConfigError([
      `${key("cgroupMode")} = "${spec.cgroupMode}" needs write access to the host's cgroups here: ${why}; ` +
        `set ${key("allowHostCgroupWrite")}=true to accept that (README, Worker modes), or use cgroupMode=none`,
    ]);
  }
}

/**
 * The one way from stack config to a ClusterSpec, for the program and its tests alike: raw config
 * (`namespace:key` -> string, as Pulumi hands it over) is validated, engine facts are asked of
 * `engine` where the config leaves them to it, and names and wiring are derived. Bad config
 * throws ClusterConfigError (every problem, one line each) before any resource exists.
 */
export async function loadClusterSpec(
  raw: Record<string, string>,
  context: { project: string; stack: string },
  engine: EngineQuery = dockerEngineQuery,
  stacks: ControllerStackReader = pulumiStackReader,
): Promise<ClusterSpec> {
  const settings = validateClusterConfig(raw);
  const dockerHost = resolveDockerHost(raw["docker:host"]);
  // Before the engine is asked anything: plain TCP (root on that machine, open to the network)
  // only with consent, and a TLS engine's files where Docker's client looks for them.
  const addressProblem = engineAddressProblem(dockerHost, settings.allowInsecureDockerHost, raw["docker:host"] || !process.env.DOCKER_HOST ? "docker:host" : "DOCKER_HOST");
  if (addressProblem) throw new ClusterConfigError([addressProblem]);
  let hostCgroupVersion: HostCgroupVersion;
  try {
    hostCgroupVersion = settings.hostCgroupVersion === "auto" ? await engine.hostCgroupVersion(dockerHost) : settings.hostCgroupVersion;
  } catch (err) {
    // RunError: the Pulumi CLI prints the message alone, without a stack trace.
    throw new pulumi.RunError((err as Error).message);
  }
  let platform: Platform;
  let enginePlatform: Platform;
  let engineCgroup: EngineCgroupSupport;
  try {
    engineCgroup = await engine.cgroupSupport(dockerHost);
    const facts = await engine.platform(dockerHost);
    enginePlatform = facts.platform;
    platform = settings.platform === "auto" ? facts.platform : settings.platform;
    const release = SLURM_RELEASES[settings.slurmRelease];
    if (!(release.platforms as readonly string[]).includes(platform)) {
      throw new ClusterConfigError([
        `${key("slurmRelease")} = "${settings.slurmRelease}": Debian ${release.suite} packages it for ${release.platforms.join(" and ")}, not for ${platform}` +
          (settings.platform === "auto" ? " (the Docker engine's own platform)" : ""),
      ]);
    }
    if (settings.gpusPerWorker > 0 && (facts.dockerDesktop || partitionOf({ ...settings, ...context }) === "macos")) {
      throw new ClusterConfigError([
        `${key("gpusPerWorker")} = "${settings.gpusPerWorker}" on ${facts.dockerDesktop ? "Docker Desktop" : "the macos partition"}: ` +
          `Docker Desktop passes no GPU to containers; leave it 0 there`,
      ]);
    }
  } catch (err) {
    if (err instanceof ClusterConfigError) throw err;
    throw new pulumi.RunError((err as Error).message);
  }
  // Only where images will be built: a preview (and the policy checks, run as previews) builds
  // nothing, and its verdict must not hang on which images this engine happens to hold.
  const baseProblem = pulumi.runtime.isDryRun() ? undefined : await baseImageProblem(settings, platform, dockerHost, engine);
  if (baseProblem) throw new ClusterConfigError([baseProblem]);
  const controller = settings.role === "workers" ? await readController(settings, context.stack, stacks) : undefined;
  let authorizedKeys: Record<string, string[]> | undefined;
  if (settings.role === "cluster") {
    const read = readUsersPublicKeys(settings.users);
    if (read.problems.length > 0) throw new ClusterConfigError(read.problems.map((p) => `${key("users")}: ${p}`));
    authorizedKeys = read.keys;
  }
  const names = buildSpec({ ...settings, ...context, hostCgroupVersion, platform, enginePlatform: enginePlatform!, dockerHost, engineCgroup: engineCgroup!, controller, authorizedKeys });
  const upgrade = await releaseChange(names, settings.slurmRelease, engine);
  const spec = upgrade ? { ...names, upgrade } : names;
  checkCgroupGrants(spec);
  let memoryBytes: number;
  try {
    memoryBytes = await engine.memoryBytes(dockerHost);
  } catch (err) {
    throw new pulumi.RunError((err as Error).message);
  }
  checkFitsEngine(spec, memoryBytes);
  return spec;
}

// Applies @pulumi/docker resources to a Docker engine through its API (dockerode), as the real
// provider does: create, update in place, read (for refresh) and delete, per resource type. What
// each does is the provider's, read from its source (see provider-table.ts); where the provider
// does nothing (an image's delete, an ignored input), this does nothing either. It refuses any
// input it does not implement, so a program change can never be silently ignored.
import * as path from "path";
import Docker from "dockerode";
import * as tar from "tar-stream";
import { contextFiles } from "../components/build-context";
import { demuxDockerLog } from "../docker/container-exec";
import { PROJECT_ROOT } from "./program";
import { readContainerInputs } from "./container-read";
import { durationNs } from "./durations";

type Inputs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export type Progress = (line: string) => void;

/** A create that made the resource but did not finish (the provider keeps it in state, tainted by the error). */
export class PartialCreateError extends Error {
  constructor(message: string, public readonly id: string, public readonly outputs: Inputs) {
    super(message);
  }
}

function refuseUnknown(kind: string, inputs: Inputs, supported: string[]): void {
  const unknown = Object.keys(inputs).filter((k) => inputs[k] !== undefined && !supported.includes(k));
  if (unknown.length > 0) {
    throw new Error(`local runner: ${kind} input(s) ${unknown.join(", ")} are not implemented; extend local-runner/docker-resources.ts`);
  }
}

function labelMap(labels: { label: string; value: string }[] | undefined): Record<string, string> {
  return Object.fromEntries((labels ?? []).map((l) => [l.label, l.value]));
}

export { durationNs };

const CONTAINER_INPUTS = [
  "name", "hostname", "image", "command", "entrypoints", "envs", "labels", "networksAdvanced", "mounts",
  "uploads", "healthcheck", "wait", "waitTimeout", "restart", "capabilities", "securityOpts", "privileged",
  "memory", "memorySwap", "cgroupnsMode", "tmpfs", "stopSignal", "ports", "destroyGraceSeconds", "hosts", "devices", "gpus", "removeVolumes",
  "ulimits", "readOnly", "cgroupParent", "volumes",
];

/**
 * The device request of a `gpus` value, as the docker CLI's --gpus (which the provider uses):
 * "all", a count, or "device=<id>[,<id>...]" (quoted when it holds commas).
 */
function gpuRequest(value: string): { Driver: string; Count: number; DeviceIDs?: string[]; Capabilities: string[][] } {
  const v = value.replace(/^"(.*)"$/, "$1");
  if (v === "all") return { Driver: "", Count: -1, Capabilities: [["gpu"]] };
  if (/^\d+$/.test(v)) return { Driver: "", Count: Number(v), Capabilities: [["gpu"]] };
  const ids = /^device=(.+)$/.exec(v);
  if (!ids) throw new Error(`local runner: gpus value ${JSON.stringify(value)} is not all, a count or device=<ids>`);
  return { Driver: "", Count: 0, DeviceIDs: ids[1].split(","), Capabilities: [["gpu"]] };
}

/** What refresh learned of a resource: gone, or there (for a container, whether it runs). */
export type ReadResult = { exists: false } | { exists: true; running?: boolean; inputs?: Inputs; outputs?: Inputs };

const isNotFound = (err: { statusCode?: number }) => err?.statusCode === 404;
/** Whether the object an inspect asks for exists (any other error is an error). */
const exists = (inspect: Promise<unknown>): Promise<ReadResult> =>
  inspect.then(() => ({ exists: true }), (err) => (isNotFound(err) ? { exists: false } : Promise.reject(err)));
/** A removal that finds nothing to remove has done its work. */
const removed = (remove: Promise<unknown>): Promise<void> =>
  remove.then(() => undefined, (err) => (isNotFound(err) ? undefined : Promise.reject(err)));

/** The time a retry loop reads and waits on: the wall clock, or a test's own. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const WALL_CLOCK: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/** How long and how often a removal that Docker refuses for now is tried again (the provider's StateChangeConf). */
interface RemovalRetry {
  timeoutMs: number;
  delayMs: number;
  pollMs: number;
  /** Whose time the timeout is counted in (the wall clock unless a test gives its own). */
  clock?: Clock;
}

/**
 * networkRemoveRefresh* and volumeReadRefresh* in the provider: tried every 5 s for 30 s. Its 2 s wait before
 * the first try is left out: it changes only how long a removal that succeeds at once takes.
 */
export const PROVIDER_REMOVAL_RETRY: RemovalRetry = { timeoutMs: 30_000, delayMs: 0, pollMs: 5_000 };

/** Tries `remove` until it succeeds, or fails with something other than `pending`, or the time is up. */
async function removeWithRetry(what: string, retry: RemovalRetry, remove: () => Promise<unknown>, pending: RegExp): Promise<void> {
  const clock = retry.clock ?? WALL_CLOCK;
  const deadline = clock.now() + retry.timeoutMs;
  if (retry.delayMs > 0) await clock.sleep(retry.delayMs);
  for (;;) {
    try {
      await removed(remove());
      return;
    } catch (err) {
      const message = (err as { json?: { message?: string } }).json?.message ?? (err as Error).message;
      if (!pending.test(message)) throw err;
      if (clock.now() + retry.pollMs > deadline) throw new Error(`timeout while waiting for ${what} to be removed (${message})`);
      await clock.sleep(retry.pollMs);
    }
  }
}

export class DockerResources {
  constructor(
    private readonly docker: Docker,
    private readonly progress: Progress,
    private readonly removalRetry: RemovalRetry = PROVIDER_REMOVAL_RETRY,
  ) {}

  // ---- networks: every input forces a new network; Docker refuses a second one of the same name.
  async createNetwork(inputs: Inputs): Promise<{ id: string; outputs: Inputs }> {
    refuseUnknown("Network", inputs, ["name", "driver", "labels", "internal", "attachable", "ipamConfigs"]);
    const created = await this.docker.createNetwork({
      Name: inputs.name,
      Driver: inputs.driver ?? "bridge",
      Labels: labelMap(inputs.labels),
      Internal: inputs.internal ?? false,
      Attachable: inputs.attachable ?? false,
      CheckDuplicate: true,
      IPAM: inputs.ipamConfigs
        ? { Driver: "default", Config: inputs.ipamConfigs.map((c: Inputs) => ({ Subnet: c.subnet, Gateway: c.gateway, IPRange: c.ipRange })) }
        : undefined,
    });
    this.progress(`created network ${inputs.name}`);
    return { id: created.id, outputs: { ...inputs } };
  }

  /** resourceDockerNetworkDelete: a network with active endpoints is tried again for 30 s. */
  async deleteNetwork(id: string, name: string): Promise<void> {
    await removeWithRetry(`network ${name}`, this.removalRetry, () => this.docker.getNetwork(id).remove(), /has active endpoints/);
    this.progress(`deleted network ${name}`);
  }

  readNetwork(id: string): Promise<ReadResult> {
    return exists(this.docker.getNetwork(id).inspect());
  }

  // ---- volumes: Docker hands back an existing volume of the same name instead of failing.
  async createVolume(inputs: Inputs): Promise<{ id: string; outputs: Inputs }> {
    refuseUnknown("Volume", inputs, ["name", "labels", "driver", "driverOpts"]);
    const volume = await this.docker.createVolume({
      Name: inputs.name,
      Labels: labelMap(inputs.labels),
      Driver: inputs.driver ?? "local",
      DriverOpts: inputs.driverOpts,
    });
    this.progress(`created volume ${inputs.name}`);
    return { id: inputs.name, outputs: { ...inputs, mountpoint: (volume as unknown as { Mountpoint?: string }).Mountpoint ?? "" } };
  }

  /** resourceDockerVolumeDelete: VolumeRemove with force, tried again for 30 s while the volume is in use. */
  async deleteVolume(name: string): Promise<void> {
    await removeWithRetry(`volume ${name}`, this.removalRetry, () => this.docker.getVolume(name).remove({ force: true }), /volume is in use/);
    this.progress(`deleted volume ${name}`);
  }

  readVolume(name: string): Promise<ReadResult> {
    return exists(this.docker.getVolume(name).inspect());
  }

  // ---- images (pulumi-docker's own Image): create and update build; read and delete do nothing.
  async buildImage(inputs: Inputs): Promise<{ id: string; outputs: Inputs }> {
    refuseUnknown("Image", inputs, ["imageName", "build", "skipPush", "buildOnPreview"]);
    if (!inputs.skipPush) throw new Error("local runner: only local images (skipPush: true) are implemented");
    const build = inputs.build ?? {};
    refuseUnknown("Image.build", build, ["context", "dockerfile", "args", "builderVersion", "platform"]);
    const name: string = inputs.imageName;
    const context = path.resolve(PROJECT_ROOT, build.context);
    const dockerfile = path.relative(context, path.resolve(PROJECT_ROOT, build.dockerfile ?? `${build.context}/Dockerfile`));
    this.progress(`building image ${name} from ${build.context}`);
    const started = Date.now();
    const stream = await this.docker.buildImage(packContext(context), {
      t: name,
      dockerfile,
      buildargs: build.args ?? {},
      rm: true,
      forcerm: true,
      platform: build.platform,
    });
    const lines: string[] = [];
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err: Error | null, output: { error?: string }[]) => {
          const failed = err?.message ?? output.find((o) => o.error)?.error;
          if (failed) reject(new Error(`building ${name} failed: ${failed}\n${lines.slice(-15).join("\n")}`));
          else resolve();
        },
        (event: { stream?: string }) => {
          const text = event.stream?.trim();
          if (!text) return;
          lines.push(text);
          if (text.startsWith("Step ")) this.progress(`  ${name}: ${text}`);
        },
      );
    });
    const id = (await this.docker.getImage(name).inspect()).Id;
    this.progress(`built image ${name} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return { id: name, outputs: { ...inputs, repoDigest: id, baseImageName: name, platform: build.platform ?? "" } };
  }

  // ---- remote images (the Terraform provider's docker_image): use the local image, or pull it.
  async createRemoteImage(inputs: Inputs): Promise<{ id: string; outputs: Inputs }> {
    refuseUnknown("RemoteImage", inputs, ["name", "keepLocally"]);
    const name: string = inputs.name;
    let info = await this.docker.getImage(name).inspect().catch(() => undefined);
    if (!info) {
      this.progress(`pulling image ${name}`);
      try {
        const stream = await this.docker.pull(name);
        await new Promise<void>((resolve, reject) =>
          this.docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())),
        );
      } catch (err) {
        throw new Error(`cannot pull image ${name}: ${(err as Error).message}`);
      }
      info = await this.docker.getImage(name).inspect();
    }
    return { id: `${info.Id}${name}`, outputs: { ...inputs, imageId: info.Id, repoDigest: info.RepoDigests?.[0] ?? "" } };
  }

  async deleteRemoteImage(inputs: Inputs): Promise<void> {
    if (inputs.keepLocally) return;
    await removed(this.docker.getImage(inputs.name).remove());
  }

  readRemoteImage(inputs: Inputs): Promise<ReadResult> {
    return exists(this.docker.getImage(inputs.name).inspect());
  }

  // ---- containers
  /**
   * As the provider's create: a container of the same name is a conflict (Docker refuses it);
   * with `wait`, poll until healthy for waitTimeout seconds, and a container that never gets
   * there stays, recorded with the error (PartialCreateError).
   */
  async createContainer(inputs: Inputs): Promise<{ id: string; outputs: Inputs; running: boolean }> {
    refuseUnknown("Container", inputs, CONTAINER_INPUTS);
    const name: string = inputs.name;
    const networks: { name: string; aliases?: string[]; ipv4Address?: string }[] = inputs.networksAdvanced ?? [];
    const options: Docker.ContainerCreateOptions = {
      name,
      Hostname: inputs.hostname,
      Image: inputs.image,
      Cmd: inputs.command,
      Entrypoint: inputs.entrypoints,
      Env: inputs.envs,
      Labels: labelMap(inputs.labels),
      StopSignal: inputs.stopSignal,
      Healthcheck: inputs.healthcheck && {
        Test: inputs.healthcheck.tests,
        Interval: durationNs(inputs.healthcheck.interval),
        Timeout: durationNs(inputs.healthcheck.timeout),
        StartPeriod: durationNs(inputs.healthcheck.startPeriod),
        Retries: inputs.healthcheck.retries,
      },
      ExposedPorts: Object.fromEntries((inputs.ports ?? []).map((p: Inputs) => [`${p.internal}/${p.protocol ?? "tcp"}`, {}])),
      HostConfig: <Docker.HostConfig & { CgroupnsMode?: string }>{
        // resourceDockerContainerCreate: network_mode (default "bridge") at create, and no
        // NetworkingConfig; networks_advanced are connected after create (below).
        NetworkMode: "bridge",
        Mounts: (inputs.mounts ?? []).map((m: Inputs) => ({
          Type: m.type,
          Source: m.source,
          Target: m.target,
          ReadOnly: m.readOnly ?? false,
        })),
        // As the provider: volumes with a host_path -> Binds "host:container[:ro]" (the engine creates
        // a missing host directory, as `docker run -v` does); cgroup_parent -> CgroupParent.
        Binds: (inputs.volumes ?? []).map((v: Inputs) => {
          if (!v.hostPath || !v.containerPath) throw new Error("local runner: only volumes with a hostPath and a containerPath are implemented");
          return `${v.hostPath}:${v.containerPath}${v.readOnly ? ":ro" : ""}`;
        }),
        CgroupParent: inputs.cgroupParent,
        Tmpfs: inputs.tmpfs,
        CapAdd: inputs.capabilities?.adds,
        CapDrop: inputs.capabilities?.drops,
        SecurityOpt: inputs.securityOpts,
        // As the provider: ulimit -> Ulimits (name, soft, hard); read_only -> ReadonlyRootfs.
        Ulimits: inputs.ulimits?.map((u: Inputs) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
        ReadonlyRootfs: inputs.readOnly ?? false,
        Privileged: inputs.privileged ?? false,
        CgroupnsMode: inputs.cgroupnsMode,
        Memory: inputs.memory ? inputs.memory * 1024 * 1024 : undefined,
        MemorySwap: inputs.memorySwap ? (inputs.memorySwap > 0 ? inputs.memorySwap * 1024 * 1024 : inputs.memorySwap) : undefined,
        RestartPolicy: { Name: inputs.restart ?? "no" },
        // As the provider: hosts -> ExtraHosts "host:ip"; devices -> Devices; gpus -> one NVIDIA device request.
        ExtraHosts: (inputs.hosts ?? []).map((h: Inputs) => `${h.host}:${h.ip}`),
        Devices: (inputs.devices ?? []).map((d: Inputs) => ({
          PathOnHost: d.hostPath,
          PathInContainer: d.containerPath ?? d.hostPath,
          CgroupPermissions: d.permissions ?? "rwm",
        })),
        DeviceRequests: inputs.gpus ? [gpuRequest(inputs.gpus)] : undefined,
        PortBindings: Object.fromEntries(
          (inputs.ports ?? []).map((p: Inputs) => [
            `${p.internal}/${p.protocol ?? "tcp"}`,
            [{ HostIp: p.ip ?? "0.0.0.0", HostPort: String(p.external ?? "") }],
          ]),
        ),
      },
    };
    const created = await this.docker.createContainer(options).catch((err: Error) => {
      throw new Error(`Unable to create container ${name}: ${err.message}`);
    });
    // resourceDockerContainerCreate returns its error after ContainerCreate succeeded, so the bridge keeps the
    // container in state with init errors: a failed network connect or upload does the same here.
    const partial = async (what: string, err: Error) =>
      new PartialCreateError(`${what} (container ${name}): ${err.message}`, created.id, this.containerOutputs(inputs, await created.inspect()));
    // As the provider, with networks_advanced: leave the default bridge (not being on it is fine),
    // then connect every network, each with its aliases, one after another. The provider walks a
    // set (its order is the set's hash order, not the program's); the end state is the same: on
    // each listed network with its aliases, on no other.
    if (networks.length > 0) {
      await this.docker
        .getNetwork("bridge")
        .disconnect({ Container: created.id, Force: false })
        .catch(async (err: Error) => {
          if (!/is not connected to the network bridge/.test(err.message)) throw await partial("Unable to disconnect the default network", err);
        });
    }
    for (const n of networks) {
      await this.docker
        .getNetwork(n.name)
        .connect({ Container: created.id, EndpointConfig: { Aliases: n.aliases, IPAMConfig: n.ipv4Address ? { IPv4Address: n.ipv4Address } : undefined } })
        .catch(async (err: Error) => Promise.reject(await partial(`Unable to connect to network ${n.name}`, err)));
    }
    if (inputs.uploads?.length) {
      const archive = await uploadsTar(inputs.uploads);
      await created.putArchive(archive, { path: "/" }).catch(async (err: Error) => Promise.reject(await partial("Unable to upload volume content", err)));
    }
    await created.start().catch(async (err: Error) => {
      // As the provider: the container exists once created, so a failed start leaves it in state
      // (with init errors) for the next `up` to deal with, not as a stray that blocks its name.
      throw new PartialCreateError(`Unable to start container ${name}: ${err.message}`, created.id, this.containerOutputs(inputs, await created.inspect()));
    });
    this.progress(`started container ${name}`);
    if (inputs.wait) {
      const healthy = await this.waitUntilHealthy(created, inputs);
      if (!healthy) {
        const info = await created.inspect();
        throw new PartialCreateError(
          `container ${name} did not become healthy within ${inputs.waitTimeout ?? 60}s (health: ${info.State.Health?.Status}, ` +
            `running: ${info.State.Running}, restarts: ${info.RestartCount}):\n${await logTail(created)}`,
          created.id,
          this.containerOutputs(inputs, info),
        );
      }
    }
    // Create ends with resourceDockerContainerRead: a container that already exited is read with must_run
    // false, so the next `up` starts it.
    const info = await created.inspect();
    return { id: created.id, outputs: this.containerOutputs(inputs, info), running: info.State.Running };
  }

  /** The provider's wait loop: healthy within waitTimeout, or not; it does not give up earlier. */
  private async waitUntilHealthy(container: Docker.Container, inputs: Inputs): Promise<boolean> {
    const deadline = Date.now() + (inputs.waitTimeout ?? 60) * 1000;
    const started = Date.now();
    while (Date.now() < deadline) {
      const info = await container.inspect();
      if (!info.State.Health) throw new Error(`container ${inputs.name}: wait is set but the container has no healthcheck`);
      if (info.State.Health.Status === "healthy") {
        this.progress(`container ${inputs.name} healthy after ${((Date.now() - started) / 1000).toFixed(1)}s`);
        return true;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    return false;
  }

  /** The provider's update: resources and restart policy in place; a stopped container is started. */
  async updateContainer(id: string, news: Inputs, changed: string[], start: boolean): Promise<Inputs> {
    refuseUnknown("Container", news, CONTAINER_INPUTS);
    const container = this.docker.getContainer(id);
    if (start) {
      await container.start().catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 304) throw err; // 304: already running
      });
      this.progress(`started stopped container ${news.name}`);
    }
    if (changed.some((k) => ["restart", "memory", "memorySwap"].includes(k))) {
      await container.update({
        RestartPolicy: { Name: news.restart ?? "no" },
        Memory: (news.memory ?? 0) * 1024 * 1024,
        ...(news.memorySwap ? { MemorySwap: news.memorySwap > 0 ? news.memorySwap * 1024 * 1024 : news.memorySwap } : {}),
      });
      this.progress(`updated container ${news.name} in place (${changed.join(", ")})`);
    }
    const info = await container.inspect();
    return this.containerOutputs(news, info);
  }

  /** The provider's delete: stop with destroyGraceSeconds (0 when unset), remove, then wait until it is gone. */
  async deleteContainer(id: string, inputs: Inputs): Promise<void> {
    const container = this.docker.getContainer(id);
    const grace = inputs.destroyGraceSeconds ?? 0;
    const started = Date.now();
    await container.stop({ t: grace }).catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 304 && err.statusCode !== 404) throw err; // 304: already stopped
    });
    // resourceDockerContainerDelete: RemoveVolumes = remove_volumes (default true), Force = true, then ContainerWait(not-running), "No such container" ignored.
    await removed(container.remove({ force: true, v: inputs.removeVolumes ?? true }));
    await removed(container.wait({ condition: "not-running" }));
    this.progress(`deleted container ${inputs.name} (stopped in ${((Date.now() - started) / 1000).toFixed(1)}s, grace ${grace}s)`);
  }

  async readContainer(id: string, inputs: Inputs): Promise<ReadResult> {
    const info = await this.docker.getContainer(id).inspect().catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
    if (!info) return { exists: false };
    const read = readContainerInputs(inputs, info);
    return { exists: true, running: info.State.Running, inputs: read, outputs: this.containerOutputs(read, info) };
  }

  private containerOutputs(inputs: Inputs, info: Docker.ContainerInspectInfo): Inputs {
    const networkDatas = Object.entries(info.NetworkSettings.Networks ?? {}).map(([networkName, n]) => ({
      networkName,
      ipAddress: n.IPAddress,
      ipPrefixLength: n.IPPrefixLen,
      gateway: n.Gateway,
      macAddress: n.MacAddress,
    }));
    return { ...inputs, networkDatas, exitCode: info.State.ExitCode };
  }
}

/**
 * A build context as a tar stream: the files its .dockerignore leaves in, as Docker sends them and
 * as the image's tag hashes them (contextFiles, one list for both). Folders the rules exclude and no
 * exception can reach inside are not walked: walking the project's node_modules and .git to send the
 * exporter's few files cost 5 s of each fresh `up`.
 */
function packContext(context: string): NodeJS.ReadableStream {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tarFs = require("tar-fs");
  return tarFs.pack(context, { entries: contextFiles(context) });
}

/** A tar holding every upload at its absolute path (parents are created by Docker). */
async function uploadsTar(uploads: Inputs[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const u of uploads) {
    refuseUnknown("Container.uploads", u, ["file", "content", "contentBase64", "executable", "permissions"]);
    const body = u.contentBase64 !== undefined ? Buffer.from(u.contentBase64, "base64") : Buffer.from(u.content ?? "", "utf8");
    const mode = u.permissions ? parseInt(u.permissions, 8) : u.executable ? 0o755 : 0o644;
    pack.entry({ name: String(u.file).replace(/^\/+/, ""), mode }, body);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function logTail(container: Docker.Container, lines = 20): Promise<string> {
  const raw = (await container.logs({ stdout: true, stderr: true, tail: lines })) as unknown as Buffer;
  return demuxDockerLog(raw).trimEnd();
}

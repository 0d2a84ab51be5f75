// Applies @pulumi/docker registrations to the local Docker engine through its API (dockerode),
// the way the docker provider would: networks, volumes, image builds, containers with uploads.
// It refuses any input it does not implement, so a program change can never be silently ignored.
import * as fs from "fs";
import * as path from "path";
import Docker from "dockerode";
import * as tar from "tar-stream";
import { demuxDockerLog } from "../../components/node-registration";
import { PROJECT_ROOT } from "./program";
import { hashInputs } from "./state";

export const ENGINE_INPUTS_LABEL = "com.slurm-cluster.engine.inputs-hash";

type Inputs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export type Progress = (line: string) => void;

function refuseUnknown(kind: string, inputs: Inputs, supported: string[]): void {
  const unknown = Object.keys(inputs).filter((k) => inputs[k] !== undefined && !supported.includes(k));
  if (unknown.length > 0) {
    throw new Error(`test engine: ${kind} input(s) ${unknown.join(", ")} are not implemented; extend tests/engine/docker-resources.ts`);
  }
}

function labelMap(labels: { label: string; value: string }[] | undefined): Record<string, string> {
  return Object.fromEntries((labels ?? []).map((l) => [l.label, l.value]));
}

/** Docker durations ("2s", "1m30s", "500ms") to nanoseconds, as the Engine API wants. */
export function durationNs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const units: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/g;
  let matched = "";
  for (let m = re.exec(value); m; m = re.exec(value)) {
    total += Number(m[1]) * units[m[2]];
    matched += m[0];
  }
  if (matched !== value) throw new Error(`test engine: cannot read duration "${value}"`);
  return Math.round(total);
}

export class DockerResources {
  constructor(private readonly docker: Docker, private readonly progress: Progress) {}

  async network(inputs: Inputs): Promise<{ id: string; state: Inputs }> {
    refuseUnknown("Network", inputs, ["name", "driver", "labels", "internal", "attachable"]);
    const existing = (await this.docker.listNetworks({ filters: { name: [inputs.name] } })).find((n) => n.Name === inputs.name);
    if (existing) return { id: existing.Id, state: { ...inputs } };
    const created = await this.docker.createNetwork({
      Name: inputs.name,
      Driver: inputs.driver ?? "bridge",
      Labels: labelMap(inputs.labels),
      Internal: inputs.internal ?? false,
      Attachable: inputs.attachable ?? false,
      CheckDuplicate: true,
    });
    this.progress(`created network ${inputs.name}`);
    return { id: created.id, state: { ...inputs } };
  }

  async volume(inputs: Inputs): Promise<{ id: string; state: Inputs }> {
    refuseUnknown("Volume", inputs, ["name", "labels", "driver"]);
    try {
      await this.docker.getVolume(inputs.name).inspect();
    } catch {
      await this.docker.createVolume({ Name: inputs.name, Labels: labelMap(inputs.labels), Driver: inputs.driver ?? "local" });
      this.progress(`created volume ${inputs.name}`);
    }
    return { id: inputs.name, state: { ...inputs, mountpoint: "" } };
  }

  async image(inputs: Inputs): Promise<{ id: string; state: Inputs }> {
    refuseUnknown("Image", inputs, ["imageName", "build", "skipPush", "buildOnPreview"]);
    if (!inputs.skipPush) throw new Error("test engine: only local images (skipPush: true) are implemented");
    const build = inputs.build ?? {};
    refuseUnknown("Image.build", build, ["context", "dockerfile", "args", "builderVersion", "platform"]);
    const name: string = inputs.imageName;
    let id: string;
    try {
      id = (await this.docker.getImage(name).inspect()).Id;
      this.progress(`image ${name} is up to date`);
    } catch {
      id = await this.buildImage(name, build);
    }
    return { id: name, state: { ...inputs, repoDigest: id, baseImageName: name, platform: build.platform ?? "" } };
  }

  private async buildImage(name: string, build: Inputs): Promise<string> {
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
    return id;
  }

  /** Like the provider's RemoteImage: use the local image, or pull it. */
  async remoteImage(inputs: Inputs): Promise<{ id: string; state: Inputs }> {
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
    return { id: `${info.Id}${name}`, state: { ...inputs, imageId: info.Id, repoDigest: info.RepoDigests?.[0] ?? "" } };
  }

  async container(inputs: Inputs): Promise<{ id: string; state: Inputs }> {
    refuseUnknown("Container", inputs, [
      "name", "hostname", "image", "command", "entrypoints", "envs", "labels", "networksAdvanced", "mounts",
      "uploads", "healthcheck", "wait", "waitTimeout", "restart", "capabilities", "securityOpts", "privileged",
      "memory", "cgroupnsMode", "tmpfs", "stopSignal", "ports",
    ]);
    const name: string = inputs.name;
    const inputsHash = hashInputs(inputs);
    const existing = this.docker.getContainer(name);
    const current = await existing.inspect().catch(() => undefined);
    if (current && current.Config.Labels?.[ENGINE_INPUTS_LABEL] === inputsHash && current.State.Running) {
      this.progress(`container ${name} is up to date`);
      return { id: current.Id, state: this.containerState(inputs, current) };
    }
    if (current) {
      this.progress(`replacing container ${name} (${current.State.Running ? "inputs changed" : "not running"})`);
      await stopGracefully(existing);
      await existing.remove({ force: true });
    }

    const networks: { name: string; aliases?: string[] }[] = inputs.networksAdvanced ?? [];
    const options: Docker.ContainerCreateOptions = {
      name,
      Hostname: inputs.hostname,
      Image: inputs.image,
      Cmd: inputs.command,
      Entrypoint: inputs.entrypoints,
      Env: inputs.envs,
      Labels: { ...labelMap(inputs.labels), [ENGINE_INPUTS_LABEL]: inputsHash },
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
        NetworkMode: networks[0]?.name,
        Mounts: (inputs.mounts ?? []).map((m: Inputs) => ({
          Type: m.type,
          Source: m.source,
          Target: m.target,
          ReadOnly: m.readOnly ?? false,
        })),
        Tmpfs: inputs.tmpfs,
        CapAdd: inputs.capabilities?.adds,
        CapDrop: inputs.capabilities?.drops,
        SecurityOpt: inputs.securityOpts,
        Privileged: inputs.privileged ?? false,
        CgroupnsMode: inputs.cgroupnsMode,
        Memory: inputs.memory ? inputs.memory * 1024 * 1024 : undefined,
        RestartPolicy: { Name: inputs.restart ?? "no" },
        PortBindings: Object.fromEntries(
          (inputs.ports ?? []).map((p: Inputs) => [
            `${p.internal}/${p.protocol ?? "tcp"}`,
            [{ HostIp: p.ip ?? "0.0.0.0", HostPort: String(p.external ?? "") }],
          ]),
        ),
      },
      NetworkingConfig: networks[0] && {
        EndpointsConfig: { [networks[0].name]: { Aliases: networks[0].aliases } },
      },
    };
    const created = await this.docker.createContainer(options);
    for (const extra of networks.slice(1)) {
      await this.docker.getNetwork(extra.name).connect({ Container: created.id, EndpointConfig: { Aliases: extra.aliases } });
    }
    if (inputs.uploads?.length) await created.putArchive(await uploadsTar(inputs.uploads), { path: "/" });
    await created.start();
    this.progress(`started container ${name}`);
    const ready = await this.waitUntilReady(created, inputs);
    return { id: created.id, state: this.containerState(inputs, ready) };
  }

  /** Like the provider: the container must be running; with `wait`, healthy within waitTimeout. */
  private async waitUntilReady(container: Docker.Container, inputs: Inputs): Promise<Docker.ContainerInspectInfo> {
    const deadline = Date.now() + (inputs.waitTimeout ?? 60) * 1000;
    const started = Date.now();
    for (;;) {
      const info = await container.inspect();
      const health = info.State.Health?.Status;
      if (!info.State.Running) {
        throw new Error(`container ${inputs.name} stopped (exit code ${info.State.ExitCode}):\n${await logTail(container)}`);
      }
      if (!inputs.wait || health === "healthy") {
        if (inputs.wait) this.progress(`container ${inputs.name} healthy after ${((Date.now() - started) / 1000).toFixed(1)}s`);
        return info;
      }
      if (health === "unhealthy" || Date.now() > deadline) {
        throw new Error(`container ${inputs.name} not healthy (${health}) within ${inputs.waitTimeout ?? 60}s:\n${await logTail(container)}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  private containerState(inputs: Inputs, info: Docker.ContainerInspectInfo): Inputs {
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

/** A build context as a tar stream, leaving out what its .dockerignore excludes (as Docker does). */
function packContext(context: string): NodeJS.ReadableStream {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tarFs = require("tar-fs");
  const ignoreFile = path.join(context, ".dockerignore");
  if (!fs.existsSync(ignoreFile)) return tarFs.pack(context);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const rules = require("@balena/dockerignore")().add(fs.readFileSync(ignoreFile, "utf8"));
  return tarFs.pack(context, {
    // Folders are always walked: an exception (!pattern) may bring back something inside one.
    ignore: (name: string) => !fs.statSync(name).isDirectory() && rules.ignores(path.relative(context, name)),
  });
}

/**
 * Stops a container with its stop signal and a grace period before it is removed, as the
 * provider does: slurmctld saves its state on SIGTERM, and a SIGKILL would lose recent jobs.
 */
export async function stopGracefully(container: Docker.Container, seconds = 30): Promise<void> {
  await container.stop({ t: seconds }).catch((err: { statusCode?: number }) => {
    if (err.statusCode !== 304 && err.statusCode !== 404) throw err; // 304: already stopped
  });
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

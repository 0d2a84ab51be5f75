// A stand-in Docker engine for unit runs of the program: it answers only what the program asks
// before declaring resources (GET /info: cgroup version and memory), so unit tests need no Docker.
import * as http from "http";
import { AddressInfo } from "net";

export interface EngineFacts {
  cgroupVersion: 1 | 2;
  memoryMiB: number;
  /** As `docker info` reports them: x86_64 or aarch64; Docker Desktop's OS name. */
  architecture?: string;
  operatingSystem?: string;
  /** As `docker info` reports them; by default this build machine's (Docker 20.10, cgroupfs). */
  serverVersion?: string;
  cgroupDriver?: "cgroupfs" | "systemd";
  /** Images the engine holds, by name, with their platform (e.g. "linux/amd64"). */
  images?: Record<string, string>;
  /** Containers the engine has, by name, with the image each was created from. */
  containers?: Record<string, string>;
}

export const DEFAULT_FACTS: EngineFacts = { cgroupVersion: 1, memoryMiB: 24 * 1024 };

/** Starts an engine on loopback that reports `facts`; resolves to its docker:host address. */
export async function startFakeEngine(facts: EngineFacts): Promise<{ host: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (/\/info$/.test(req.url ?? "")) {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(
        JSON.stringify({
          CgroupVersion: String(facts.cgroupVersion),
          MemTotal: facts.memoryMiB * 2 ** 20,
          Architecture: facts.architecture ?? "x86_64",
          OperatingSystem: facts.operatingSystem ?? "Debian GNU/Linux 13 (trixie)",
          ServerVersion: facts.serverVersion ?? "20.10.24",
          CgroupDriver: facts.cgroupDriver ?? "cgroupfs",
        }),
      );
      return;
    }
    const container = /\/containers\/([^/]+)\/json$/.exec(req.url ?? "");
    const runs = container ? facts.containers?.[decodeURIComponent(container[1])] : undefined;
    if (runs) {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ Name: `/${decodeURIComponent(container![1])}`, Config: { Image: runs } }));
      return;
    }
    const image = /\/images\/(.+)\/json$/.exec(req.url ?? "");
    const held = image ? facts.images?.[decodeURIComponent(image[1])] : undefined;
    if (held) {
      const [os, architecture] = held.split("/");
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ Os: os, Architecture: architecture }));
      return;
    }
    res.writeHead(404, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ message: `fake engine: ${req.method} ${req.url} is not implemented` }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { host: `tcp://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const dockerError = (statusCode: number, message: string) => Object.assign(new Error(`(HTTP code ${statusCode}) ${message}`), { statusCode, json: { message } });

interface FakeContainer { id: string; name: string; options: Json; image: string; running: boolean; exitCode: number; removed: boolean; networks: string[]; endpoints: Record<string, Json>; uploads: number }

/** Knobs for what the in-memory engine does wrong (or as a real engine would, but inconveniently). */
export interface FakeDockerBehaviour {
  /** Containers (by name) whose process exits as soon as it starts. */
  exitAtOnce?: Set<string>;
  /** Networks (by name) to which connecting a container fails. */
  refuseConnect?: Set<string>;
  /** Milliseconds a container takes to start. */
  startDelayMs?: number;
  /** Starts wait for this promise: a test decides when a start ends, whatever the machine's speed. */
  startGate?: Promise<void>;
  /** Fail uploads into containers. */
  refuseUploads?: boolean;
  /** Network removals answered "has active endpoints" before one succeeds (per network name). */
  activeEndpoints?: Record<string, number>;
  /** Volume removals answered "volume is in use" before one succeeds (per volume name). */
  volumeInUse?: Record<string, number>;
  /** The image ID each image name points at, now (a container keeps the ID it was created from). */
  images?: Record<string, string>;
}

/**
 * An in-memory Docker engine with the slice of dockerode's API the runner's DockerResources uses:
 * containers, networks and volumes, with the inspect shapes the Engine API returns. Every call is
 * logged in `calls`, so a test can say what the runner asked the engine to do.
 */
export class FakeDocker {
  readonly calls: string[] = [];
  readonly containers = new Map<string, FakeContainer>();
  readonly networks = new Map<string, { id: string; name: string; options: Json }>();
  readonly volumes = new Map<string, Json>();
  private next = 0;
  constructor(readonly behaviour: FakeDockerBehaviour = {}) {}

  private container(idOrName: string): FakeContainer | undefined {
    return this.containers.get(idOrName) ?? [...this.containers.values()].find((c) => c.name === idOrName);
  }

  /** `docker update` from outside the runner: merges into the container's HostConfig. */
  dockerUpdate(name: string, hostConfig: Json): void {
    const c = this.container(name)!;
    c.options.HostConfig = { ...c.options.HostConfig, ...hostConfig };
  }

  /** `docker stop` from outside the runner. */
  dockerStop(name: string): void {
    this.container(name)!.running = false;
  }

  async createContainer(options: Json) {
    this.calls.push(`create container ${options.name}`);
    if (this.container(options.name)) throw dockerError(409, `Conflict. The container name "/${options.name}" is already in use`);
    const id = `c${++this.next}`;
    this.containers.set(id, { id, name: options.name, options, image: this.imageId(String(options.Image ?? "")), running: false, exitCode: 0, removed: false, networks: options.HostConfig?.NetworkMode ? [options.HostConfig.NetworkMode] : [], endpoints: {}, uploads: 0 });
    return this.getContainer(id);
  }

  /** The ID an image reference resolves to, as Docker resolves it: an ID or a unique prefix of one, else a name. */
  private imageId(ref: string): string {
    const ids = Object.values(this.behaviour.images ?? {});
    if (ref.startsWith("sha256:")) return ids.find((id) => id.startsWith(ref)) ?? ref;
    return this.behaviour.images?.[ref] ?? `sha256:${Buffer.from(ref).toString("hex").padEnd(64, "0").slice(0, 64)}`;
  }

  getContainer(idOrName: string) {
    const find = () => {
      const c = this.container(idOrName);
      if (!c) throw dockerError(404, `No such container: ${idOrName}`);
      return c;
    };
    return {
      id: idOrName,
      inspect: async () => this.inspect(find()),
      start: async () => {
        const c = find();
        this.calls.push(`start ${c.name}`);
        if (this.behaviour.startDelayMs) await new Promise((r) => setTimeout(r, this.behaviour.startDelayMs));
        await this.behaviour.startGate;
        if (c.running) throw dockerError(304, "container already started");
        const exits = this.behaviour.exitAtOnce?.has(c.name);
        c.running = !exits;
        c.exitCode = exits ? 1 : 0;
      },
      stop: async (o: Json = {}) => {
        const c = find();
        this.calls.push(`stop ${c.name} t=${o.t}`);
        if (!c.running) throw dockerError(304, "container already stopped");
        c.running = false;
      },
      remove: async (o: Json = {}) => {
        const c = find();
        this.calls.push(`remove ${c.name} force=${o.force} v=${o.v}`);
        this.containers.delete(c.id);
      },
      wait: async (o: Json = {}) => {
        this.calls.push(`wait ${idOrName} ${o.condition}`);
        find();
        return { StatusCode: 0 };
      },
      update: async (o: Json) => {
        const c = find();
        this.calls.push(`update ${c.name} ${JSON.stringify(o)}`);
        c.options.HostConfig = { ...c.options.HostConfig, ...o };
      },
      putArchive: async () => {
        const c = find();
        this.calls.push(`upload ${c.name}`);
        if (this.behaviour.refuseUploads) throw dockerError(500, "Could not find the file / in container");
        c.uploads++;
      },
      logs: async () => Buffer.alloc(0),
    };
  }

  private inspect(c: FakeContainer) {
    const o = c.options;
    const ports = Object.fromEntries(
      Object.entries((o.HostConfig?.PortBindings ?? {}) as Record<string, Json[]>).map(([k, b]) => [k, b.map((x) => ({ HostIp: x.HostIp, HostPort: x.HostPort }))]),
    );
    return {
      Id: c.id,
      Name: `/${c.name}`,
      Image: c.image,
      RestartCount: 0,
      Config: { Image: o.Image, Hostname: o.Hostname ?? c.id.slice(0, 12), Cmd: o.Cmd, Entrypoint: o.Entrypoint, Env: o.Env, Labels: o.Labels, StopSignal: o.StopSignal, Healthcheck: o.Healthcheck },
      HostConfig: { RestartPolicy: { Name: "no" }, Memory: 0, MemorySwap: 0, ...o.HostConfig },
      State: { Running: c.running, ExitCode: c.exitCode, Health: o.Healthcheck ? { Status: c.running ? "healthy" : "unhealthy" } : undefined },
      NetworkSettings: { Networks: Object.fromEntries(c.networks.map((n, i) => [n, { IPAddress: `10.9.0.${i + 2}`, IPPrefixLen: 24, Gateway: "10.9.0.1", MacAddress: "", Aliases: c.endpoints[n]?.Aliases }])), Ports: c.running ? ports : {} },
    };
  }

  async createNetwork(options: Json) {
    this.calls.push(`create network ${options.Name}`);
    if ([...this.networks.values()].some((n) => n.name === options.Name)) throw dockerError(409, `network with name ${options.Name} already exists`);
    const id = `n${++this.next}`;
    this.networks.set(id, { id, name: options.Name, options });
    return { id };
  }

  getNetwork(idOrName: string) {
    const find = () => {
      // The engine's default bridge always exists (and is not in `networks`, which is what tests create).
      if (idOrName === "bridge") return { id: "bridge", name: "bridge", options: {} };
      const n = this.networks.get(idOrName) ?? [...this.networks.values()].find((x) => x.name === idOrName);
      if (!n) throw dockerError(404, `network ${idOrName} not found`);
      return n;
    };
    return {
      inspect: async () => {
        const n = find();
        return { Id: n.id, Name: n.name };
      },
      remove: async () => {
        const n = find();
        this.calls.push(`remove network ${n.name}`);
        const left = this.behaviour.activeEndpoints?.[n.name] ?? 0;
        if (left > 0) {
          this.behaviour.activeEndpoints![n.name] = left - 1;
          throw dockerError(403, `error while removing network: network ${n.name} id ${n.id} has active endpoints`);
        }
        this.networks.delete(n.id);
      },
      connect: async (o: Json) => {
        // As lenient as create with NetworkMode used to be here: tests name networks they never create.
        const n = (() => { try { return find(); } catch { return { name: idOrName }; } })();
        this.calls.push(`connect ${o.Container} to ${n.name}`);
        if (this.behaviour.refuseConnect?.has(n.name)) throw dockerError(500, `cannot connect to ${n.name}`);
        const c = this.container(o.Container)!;
        c.networks.push(n.name);
        c.endpoints[n.name] = o.EndpointConfig ?? {};
      },
      disconnect: async (o: Json) => {
        const n = find();
        this.calls.push(`disconnect ${o.Container} from ${n.name}`);
        const c = this.container(o.Container)!;
        if (!c.networks.includes(n.name)) throw dockerError(403, `container ${o.Container} is not connected to the network ${n.name}`);
        c.networks = c.networks.filter((x) => x !== n.name);
      },
    };
  }

  async createVolume(options: Json) {
    this.calls.push(`create volume ${options.Name}`);
    this.volumes.set(options.Name, options);
    return { Name: options.Name, Mountpoint: `/var/lib/docker/volumes/${options.Name}/_data` };
  }

  getVolume(name: string) {
    return {
      inspect: async () => {
        if (!this.volumes.has(name)) throw dockerError(404, `get ${name}: no such volume`);
        return { Name: name };
      },
      remove: async (o: Json = {}) => {
        this.calls.push(`remove volume ${name} force=${o.force}`);
        if (!this.volumes.has(name)) throw dockerError(404, `get ${name}: no such volume`);
        const left = this.behaviour.volumeInUse?.[name] ?? 0;
        if (left > 0) {
          this.behaviour.volumeInUse![name] = left - 1;
          throw dockerError(409, `remove ${name}: volume is in use - [abc]`);
        }
        this.volumes.delete(name);
      },
    };
  }
}

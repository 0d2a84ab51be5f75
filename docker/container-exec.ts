// Commands in the cluster's containers through the Docker API (the engine the stack deploys to),
// as `docker exec [-i] [-u user] [-w dir]` would run them; and a raw byte pipe to a TCP port seen
// from inside a container, which lets mysql2 reach the accounting database without publishing it.
import { Duplex, PassThrough } from "stream";
import type Docker from "dockerode";
import { connectEngine } from "./engine";

export interface ExecOptions {
  readonly user?: string;
  readonly workdir?: string;
  /** Written to the command's stdin, which is then closed. */
  readonly input?: string;
  /** Environment variables for the command, NAME=value. */
  readonly env?: readonly string[];
}

export interface ExecResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/**
 * One Docker engine's containers, as the operator CLI and the components' dynamic providers use
 * them. `docker` is the engine's dockerode client (docker/engine.ts reaches every kind of address).
 */
export class ContainerExec {
  readonly docker: Docker;

  constructor(readonly dockerHost: string, env: NodeJS.ProcessEnv = process.env) {
    this.docker = connectEngine(dockerHost, env);
  }

  /**
   * One ContainerExec per engine (and the environment that reaches it) for a whole process. The
   * dynamic providers need this: each resource's provider is its own deserialized copy of its
   * module, so the clients live on globalThis, and 64 registration checks share one client (and,
   * over SSH, one queue of logins: docker/engine.ts).
   */
  static shared(dockerHost: string, env: NodeJS.ProcessEnv = process.env): ContainerExec {
    const store = globalThis as { slurmClusterEngines?: Map<string, ContainerExec> };
    const engines = (store.slurmClusterEngines ??= new Map());
    const key = JSON.stringify([dockerHost, env.HOME, env.USER, env.SSH_AUTH_SOCK, env.DOCKER_TLS_VERIFY, env.DOCKER_CERT_PATH]);
    let found = engines.get(key);
    if (!found) engines.set(key, (found = new ContainerExec(dockerHost, env)));
    return found;
  }

  async run(container: string, cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const { stream, exec } = await this.startExec(container, cmd, opts, opts.input !== undefined);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const stdout = new PassThrough().on("data", (b: Buffer) => out.push(b));
    const stderr = new PassThrough().on("data", (b: Buffer) => err.push(b));
    this.docker.modem.demuxStream(stream, stdout, stderr);
    const ended = new Promise<void>((resolve, reject) => {
      stream.on("end", () => resolve());
      stream.on("close", () => resolve());
      stream.on("error", reject);
    });
    if (opts.input !== undefined) stream.end(opts.input);
    await ended;
    const info = await exec.inspect();
    return { code: info.ExitCode ?? -1, out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString() };
  }

  /**
   * A duplex byte stream to `host:port` as seen from inside `container` (bash's /dev/tcp): what is
   * written goes to the port, what the port sends comes out. Nothing is published on the host.
   */
  async pipeTo(container: string, host: string, port: number): Promise<Duplex> {
    const script = `exec 3<>/dev/tcp/${host}/${port} || exit 1; cat <&3 & cat >&3; wait`;
    const { stream } = await this.startExec(container, ["bash", "-c", script], {}, true);
    const fromPort = new PassThrough();
    this.docker.modem.demuxStream(stream, fromPort, new PassThrough());
    stream.on("end", () => fromPort.end());
    const pipe = new Duplex({
      read() {
        // data is pushed as it arrives
      },
      write(chunk: Buffer, _enc, done) {
        stream.write(chunk, done);
      },
      final(done) {
        stream.end();
        done();
      },
      destroy(err, done) {
        stream.destroy();
        done(err);
      },
    });
    fromPort.on("data", (b: Buffer) => pipe.push(b));
    fromPort.on("end", () => pipe.push(null));
    stream.on("error", (e: Error) => pipe.destroy(e));
    return pipe;
  }

  /** Running state and health of every container carrying all of `labels`; its role read from `roleLabel`. */
  async containers(labels: string[], roleLabel: string): Promise<ContainerStatus[]> {
    const list = await this.docker.listContainers({ all: true, filters: { label: labels } });
    return Promise.all(
      list.map(async (c) => {
        const info = await this.docker.getContainer(c.Id).inspect();
        return {
          name: info.Name.replace(/^\//, ""),
          role: info.Config.Labels?.[roleLabel] ?? "",
          state: info.State.Status,
          exitCode: info.State.ExitCode,
          health: info.State.Health?.Status ?? null,
        };
      }),
    );
  }

  /** Stops a container, giving its daemon `graceSeconds` to save its state (docker stop -t). */
  async stop(container: string, graceSeconds: number): Promise<void> {
    await this.docker.getContainer(container).stop({ t: graceSeconds }).catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 304) throw err; // 304: already stopped
    });
  }

  async start(container: string): Promise<void> {
    await this.docker.getContainer(container).start().catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 304) throw err; // 304: already running
    });
  }

  async restart(container: string): Promise<void> {
    await this.docker.getContainer(container).restart({ t: 10 });
  }

  /** A tar of a path in a container (running or stopped), as `docker cp container:path -` gives it. */
  async copyFrom(container: string, path: string): Promise<Buffer> {
    const stream = await this.docker.getContainer(container).getArchive({ path });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** Unpacks a tar into a directory of a container (running or stopped), as `docker cp - container:dir`. */
  async copyTo(container: string, dir: string, tar: Buffer): Promise<void> {
    await this.docker.getContainer(container).putArchive(tar, { path: dir });
  }

  async ping(): Promise<void> {
    await this.docker.ping();
  }

  private async startExec(container: string, cmd: string[], opts: ExecOptions, stdin: boolean) {
    const exec = await this.docker.getContainer(container).exec({
      Cmd: cmd,
      User: opts.user ?? "",
      WorkingDir: opts.workdir,
      Env: opts.env ? [...opts.env] : undefined,
      AttachStdin: stdin,
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = (await exec.start({ hijack: true, stdin })) as Duplex;
    return { exec, stream };
  }
}

export interface ContainerStatus {
  readonly name: string;
  /** The project's role label: controller, worker, slurmdbd, database, ... */
  readonly role: string;
  /** Docker's state: running, exited, restarting, created, ... */
  readonly state: string;
  readonly exitCode: number;
  /** healthy, unhealthy, starting; null when the container has no healthcheck. */
  readonly health: string | null;
}

/** Docker multiplexes non-TTY logs in frames (8-byte header: stream, 0, 0, 0, big-endian size): the text. */
export function demuxDockerLog(raw: Buffer): string {
  const parts: Buffer[] = [];
  for (let at = 0; at + 8 <= raw.length; ) {
    const size = raw.readUInt32BE(at + 4);
    parts.push(raw.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(parts).toString();
}

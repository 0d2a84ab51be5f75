import Docker from "dockerode";
import { HostCgroupVersion } from "./keys";

/**
 * Asks the Docker engine which cgroup version its host runs (`docker info` -> CgroupVersion).
 * `dockerHost` is the docker provider's `docker:host` setting when the stack sets one.
 */
export async function detectHostCgroupVersion(dockerHost?: string): Promise<HostCgroupVersion> {
  const docker = dockerHost ? new Docker(dockerClientOptions(dockerHost)) : new Docker();
  let info: { CgroupVersion?: string };
  try {
    info = await docker.info();
  } catch (err) {
    throw new Error(
      `slurm-cluster:hostCgroupVersion is auto, but the Docker engine${dockerHost ? ` at ${dockerHost}` : ""} ` +
        `did not answer (${err instanceof Error ? err.message : err}); start Docker, or set slurm-cluster:hostCgroupVersion to 1 or 2`,
    );
  }
  // Engines before API 1.40 do not report it; they predate cgroup v2 support.
  return info.CgroupVersion === "2" ? 2 : 1;
}

/** dockerode options for a `unix://`, `tcp://` or `http(s)://` Docker host address. */
export function dockerClientOptions(address: string): Docker.DockerOptions {
  const url = new URL(address);
  if (url.protocol === "unix:") return { socketPath: url.pathname };
  return { host: url.hostname, port: Number(url.port) || 2375, protocol: url.protocol === "https:" ? "https" : "http" };
}

import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type Docker from "dockerode";
import { HostCgroupVersion, Platform } from "./keys";

/**
 * Asks the Docker engine which cgroup version its host runs (`docker info` -> CgroupVersion).
 * `dockerHost` is the docker provider's `docker:host` setting when the stack sets one.
 */
export async function detectHostCgroupVersion(dockerHost: string): Promise<HostCgroupVersion> {
  const info = await engineInfo(dockerHost).catch((err: Error) => {
    throw new Error(
      `slurm-cluster:hostCgroupVersion is auto, but the Docker engine at ${dockerHost} ` +
        `did not answer (${err.message}); start Docker, or set slurm-cluster:hostCgroupVersion to 1 or 2`,
    );
  });
  // Engines before API 1.40 do not report it; they predate cgroup v2 support.
  return info.CgroupVersion === "2" ? 2 : 1;
}

/** How much memory the engine's host (or Docker Desktop's VM) has, in bytes. */
export async function engineMemoryBytes(dockerHost: string): Promise<number> {
  const info = await engineInfo(dockerHost).catch((err: Error) => {
    throw new Error(`the Docker engine at ${dockerHost} did not answer (${err.message}); start Docker, or point docker:host at a running engine`);
  });
  return info.MemTotal ?? 0;
}

/** The engine's own CPU architecture as a Docker platform, and whether it is Docker Desktop. */
export async function enginePlatform(dockerHost: string): Promise<{ platform: Platform; dockerDesktop: boolean }> {
  const info = await engineInfo(dockerHost).catch((err: Error) => {
    throw new Error(`the Docker engine at ${dockerHost} did not answer (${err.message}); start Docker, or point docker:host at a running engine`);
  });
  const arm = ["aarch64", "arm64"].includes(info.Architecture ?? "");
  return { platform: arm ? "linux/arm64" : "linux/amd64", dockerDesktop: /Docker Desktop/i.test(info.OperatingSystem ?? "") };
}

async function engineInfo(dockerHost: string): Promise<{ CgroupVersion?: string; MemTotal?: number; Architecture?: string; OperatingSystem?: string }> {
  const { default: Dockerode } = await import("dockerode"); // loaded when an engine is asked, not by every importer of the host rules
  return new Dockerode(dockerClientOptions(dockerHost)).info();
}

/** dockerode options for a `unix://`, `tcp://` or `http(s)://` Docker host address. */
export function dockerClientOptions(address: string): Docker.DockerOptions {
  const url = new URL(address);
  if (url.protocol === "unix:") return { socketPath: url.pathname };
  return { host: url.hostname, port: Number(url.port) || 2375, protocol: url.protocol === "https:" ? "https" : "http" };
}

/**
 * The Docker engine the stack deploys to, decided once and given to the docker provider and the
 * registration check alike: `docker:host`, else DOCKER_HOST (both as the provider reads them),
 * else Docker Desktop's per-user socket on macOS when the system one is absent, else the default.
 */
export function resolveDockerHost(configured?: string, env = process.env, platform = process.platform, exists: (file: string) => boolean = fs.existsSync): string {
  if (configured) return configured;
  if (env.DOCKER_HOST) return env.DOCKER_HOST;
  const desktop = path.join(env.HOME ?? os.homedir(), ".docker", "run", "docker.sock");
  if (platform === "darwin" && !exists("/var/run/docker.sock") && exists(desktop)) return `unix://${desktop}`;
  return "unix:///var/run/docker.sock";
}

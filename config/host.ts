import { EngineAccessError, connectEngine } from "../docker/engine";
import { EngineCgroupSupport, HostCgroupVersion, Platform } from "./keys";

export { EngineAccessError, dockerClientOptions, engineAddressProblem, resolveDockerHost } from "../docker/engine";

/**
 * Asks the Docker engine which cgroup version its host runs (`docker info` -> CgroupVersion).
 * `dockerHost` is the docker provider's `docker:host` setting when the stack sets one.
 */
export async function detectHostCgroupVersion(dockerHost: string): Promise<HostCgroupVersion> {
  const info = await engineInfo(dockerHost).catch((err: Error) => {
    if (err instanceof EngineAccessError) throw err;
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
    if (err instanceof EngineAccessError) throw err;
    throw new Error(`the Docker engine at ${dockerHost} did not answer (${err.message}); start Docker, or point docker:host at a running engine`);
  });
  return info.MemTotal ?? 0;
}

/** The engine's own CPU architecture as a Docker platform, and whether it is Docker Desktop. */
export async function enginePlatform(dockerHost: string): Promise<{ platform: Platform; dockerDesktop: boolean }> {
  const info = await engineInfo(dockerHost).catch((err: Error) => {
    if (err instanceof EngineAccessError) throw err;
    throw new Error(`the Docker engine at ${dockerHost} did not answer (${err.message}); start Docker, or point docker:host at a running engine`);
  });
  const arm = ["aarch64", "arm64"].includes(info.Architecture ?? "");
  return { platform: arm ? "linux/arm64" : "linux/amd64", dockerDesktop: /Docker Desktop/i.test(info.OperatingSystem ?? "") };
}

/** The engine's cgroup driver, and whether it is Docker 28 or later (`writable-cgroups` security option). */
export async function engineCgroupSupport(dockerHost: string): Promise<EngineCgroupSupport> {
  const info = await engineInfo(dockerHost).catch((err: Error) => {
    if (err instanceof EngineAccessError) throw err;
    throw new Error(`the Docker engine at ${dockerHost} did not answer (${err.message}); start Docker, or point docker:host at a running engine`);
  });
  const major = Number(/^(\d+)\./.exec(info.ServerVersion ?? "")?.[1] ?? 0);
  return { driver: info.CgroupDriver === "systemd" ? "systemd" : "cgroupfs", writableCgroups: major >= 28 };
}

async function engineInfo(
  dockerHost: string,
): Promise<{ CgroupVersion?: string; CgroupDriver?: string; ServerVersion?: string; MemTotal?: number; Architecture?: string; OperatingSystem?: string }> {
  return connectEngine(dockerHost).info();
}

/**
 * The platform of an image the engine holds (linux/amd64, linux/arm64, ...), or undefined when it
 * holds none by that name or does not say: only a definite answer is used.
 */
export async function engineImagePlatform(dockerHost: string, image: string): Promise<string | undefined> {
  try {
    const inspected = (await connectEngine(dockerHost).getImage(image).inspect()) as { Os?: string; Architecture?: string };
    return inspected.Architecture ? `${inspected.Os ?? "linux"}/${inspected.Architecture}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The image the first of these containers that exists was created from (its reference as given,
 * e.g. slurm-cluster/slurm:24.11-<hash>), or undefined when none exists.
 */
export async function engineContainerImage(dockerHost: string, containers: readonly string[]): Promise<string | undefined> {
  const engine = connectEngine(dockerHost);
  for (const name of containers) {
    const inspected = (await engine
      .getContainer(name)
      .inspect()
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode === 404) return undefined;
        throw err;
      })) as { Config?: { Image?: string } } | undefined;
    if (inspected) return inspected.Config?.Image;
  }
  return undefined;
}

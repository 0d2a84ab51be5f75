// The ground floor of Docker access: which engine a stack talks to and how to reach it. The
// program (config/), the local runner and the CLI all take the engine's address and client from
// here. The dynamic provider in components/node-registration.ts keeps its own copy: Pulumi
// serializes it into state, so it may use only Node built-ins and a runtime require of dockerode.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type Docker from "dockerode";

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

/** dockerode options for a `unix://`, `tcp://` or `http(s)://` Docker host address. */
export function dockerClientOptions(address: string): Docker.DockerOptions {
  const url = new URL(address);
  if (url.protocol === "unix:") return { socketPath: url.pathname };
  return { host: url.hostname, port: Number(url.port) || 2375, protocol: url.protocol === "https:" ? "https" : "http" };
}

/** A dockerode client for the engine at `address`; dockerode is loaded by the first caller, not by importers. */
export function connectEngine(address: string): Docker {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Dockerode: typeof Docker = require("dockerode");
  return new Dockerode(dockerClientOptions(address));
}

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
        }),
      );
      return;
    }
    res.writeHead(404, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ message: `fake engine: ${req.method} ${req.url} is not implemented` }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { host: `tcp://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

// The registration check against a stand-in Docker engine that answers exec with a fake scontrol:
// many nodes registering at once must not cost one exec per node per second.
import * as http from "http";
import { AddressInfo } from "net";
import { RegistrationInputs, waitUntilUsable } from "../../components/node-registration";

/**
 * An engine on loopback whose containers run (restarted `restartCount` times before);
 * exec of `scontrol --json show node(s)` lists `nodes()`.
 */
async function execEngine(nodes: () => { name: string; state: string[] }[], restartCount = 0) {
  const execs: string[][] = [];
  let next = 0;
  const pending = new Map<string, string[]>();
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (b) => (body += b));
    req.on("end", () => {
      const url = req.url ?? "";
      const json = (code: number, value: unknown) => {
        res.writeHead(code, { "Content-Type": "application/json" });
        res.end(JSON.stringify(value));
      };
      if (/\/containers\/[^/]+\/json$/.test(url)) {
        return json(200, { RestartCount: restartCount, State: { Running: true, Restarting: false, ExitCode: 0, StartedAt: new Date(Date.now() - 60_000).toISOString() } });
      }
      if (/\/containers\/[^/]+\/exec$/.test(url)) {
        const id = `exec${next++}`;
        pending.set(id, JSON.parse(body).Cmd);
        return json(201, { Id: id });
      }
      const start = /\/exec\/([^/]+)\/start$/.exec(url);
      if (start) {
        const cmd = pending.get(start[1])!;
        execs.push(cmd);
        const known = nodes().filter((n) => cmd.length === 4 || n.name === cmd[4]);
        const out = Buffer.from(JSON.stringify({ nodes: known.map((n) => ({ ...n, cpus: 2, real_memory: 1024, features: [], gres: "", version: "24.11.5", slurmd_start_time: { number: Math.floor(Date.now() / 1000) } })) }));
        const header = Buffer.alloc(8);
        header.writeUInt8(1, 0);
        header.writeUInt32BE(out.length, 4);
        res.writeHead(200, { "Content-Type": "application/vnd.docker.raw-stream" });
        return res.end(Buffer.concat([header, out]));
      }
      if (/\/exec\/[^/]+\/json$/.test(url)) return json(200, { ExitCode: 0 });
      json(404, { message: `not implemented: ${req.method} ${url}` });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { host: `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`, execs, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const inputs = (host: string, n: number): RegistrationInputs => ({
  scontrolContainer: "slurm-test-controller",
  announced: { cpus: 2, memoryMb: 1024, features: [], gres: "" },
  workerContainer: `slurm-test-worker${n}`,
  workerContainerId: `id${n}`,
  nodeName: `worker${n}`,
  timeoutSeconds: 30,
  dockerHost: host,
  shrinkDrainSeconds: 0,
  shrinkKillsJobs: false,
});

describe("registration checks of many nodes at once", () => {
  it("share one scontrol query per controller per second instead of one per node", async () => {
    const startedAt = Date.now();
    // Every node registers 3 s after the checks begin.
    const engine = await execEngine(() => (Date.now() - startedAt > 3000 ? Array.from({ length: 16 }, (_, i) => ({ name: `worker${i + 1}`, state: ["IDLE"] })) : []));
    try {
      const reports = await Promise.all(Array.from({ length: 16 }, (_, i) => waitUntilUsable(inputs(engine.host, i + 1))));
      expect(reports.map((r) => r.state)).toEqual(Array(16).fill("IDLE"));
      const seconds = (Date.now() - startedAt) / 1000;
      const scontrol = engine.execs.filter((c) => c[0] === "scontrol");
      // 16 checks polling every second for ~4 s would be ~64 execs one by one; shared, about one a second.
      expect(scontrol.length).toBeLessThanOrEqual(Math.ceil(seconds) + 2);
    } finally {
      await engine.close();
    }
  }, 30_000);
});

describe("a worker that restarted before the wait began and now runs", () => {
  it("is waited for, not taken for a restart loop (it restarted while an earlier up left the controller down)", async () => {
    const startedAt = Date.now();
    const engine = await execEngine(() => (Date.now() - startedAt > 1500 ? [{ name: "worker1", state: ["IDLE"] }] : []), 2);
    try {
      await expect(waitUntilUsable(inputs(engine.host, 1))).resolves.toMatchObject({ state: "IDLE" });
    } finally {
      await engine.close();
    }
  }, 30_000);
});

describe("a worker in a restart loop, on a workers stack (scontrol runs in the worker itself)", () => {
  it("is reported as such at once, though every exec into it fails because it is restarting", async () => {
    // The engine answers as Docker does for a container between restarts: exec is refused (409),
    // inspect shows it restarting with restarts counted.
    const server = http.createServer((req, res) => {
      const url = req.url ?? "";
      const json = (code: number, value: unknown) => {
        res.writeHead(code, { "Content-Type": "application/json" });
        res.end(JSON.stringify(value));
      };
      req.resume();
      req.on("end", () => {
        if (/\/containers\/[^/]+\/json$/.test(url)) {
          return json(200, { RestartCount: 3, State: { Running: false, Restarting: true, ExitCode: 78, StartedAt: new Date().toISOString() } });
        }
        if (/\/containers\/[^/]+\/exec$/.test(url)) return json(409, { message: "Container abc is restarting, wait until the container is running" });
        if (/\/containers\/[^/]+\/logs/.test(url)) {
          res.writeHead(200, { "Content-Type": "application/vnd.docker.raw-stream" });
          return res.end();
        }
        json(404, { message: `not implemented: ${req.method} ${url}` });
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const host = `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const started = Date.now();
    try {
      await expect(waitUntilUsable({ ...inputs(host, 1), scontrolContainer: "slurm-test-worker1" })).rejects.toThrow(
        /^Slurm node worker1 cannot register: the container slurm-test-worker1 keeps stopping \(restarted 3 times, last exit code 78\)/,
      );
      // Said at once, not after the 30 s timeout.
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  }, 30_000);
});

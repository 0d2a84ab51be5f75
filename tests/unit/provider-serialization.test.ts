// The components' dynamic providers as Pulumi's provider host runs them: the text Pulumi serialized
// into the resource's inputs (__provider), loaded with require-from-string in a plain Node process
// without ts-node, from the project's folder (where the host resolves packages). What they call
// in docker/ travels inside that text; a relative require of the project's TypeScript would not
// load there. The local runner loads the same text, but in a process that has ts-node.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runWithMocks } from "./harness";
import { DEFAULT_FACTS, startFakeEngine } from "./fake-engine";

const PROJECT_ROOT = path.join(__dirname, "..", "..");
const DYNAMIC = "pulumi-nodejs:dynamic/slurm-cluster:";

/**
 * Runs `call` (JS, with `provider` in scope) on the serialized provider in a plain Node; resolves
 * to its exit and output. Not spawnSync: the stand-in engine answers from this process.
 */
function inPlainNode(serialized: string, call: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "provider-"));
  fs.writeFileSync(path.join(dir, "provider.js"), serialized);
  const script = `
    const provider = require("require-from-string")(require("fs").readFileSync(${JSON.stringify(path.join(dir, "provider.js"))}, "utf8")).handler();
    Promise.resolve().then(async () => { ${call} }).then((r) => console.log(JSON.stringify(r ?? null)), (e) => { console.error(e && e.message); process.exit(3); });`;
  // NODE_OPTIONS cleared: nothing (ts-node, jest) is preloaded, as in Pulumi's provider host.
  const child = spawn(process.execPath, ["-e", script], { cwd: PROJECT_ROOT, env: { ...process.env, NODE_OPTIONS: "" }, timeout: 60_000 });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
}

describe("every dynamic provider, serialized as Pulumi stores it", () => {
  let providers: Map<string, { serialized: string; inputs: Record<string, unknown> }>;
  let engine: { host: string; close(): Promise<void> };
  beforeAll(async () => {
    const run = await runWithMocks("ubuntu");
    expect(run.error).toBeUndefined();
    providers = new Map();
    for (const r of run.registrations.filter((r) => r.type.startsWith(DYNAMIC))) {
      providers.set(r.type.slice(DYNAMIC.length), { serialized: r.inputs.__provider, inputs: r.inputs });
    }
    engine = await startFakeEngine(DEFAULT_FACTS);
  });
  afterAll(() => engine.close());

  it("exists for each kind the stack declares, and requires only Node built-ins and packages by name", () => {
    expect([...providers.keys()].sort()).toEqual(["LinuxUsers", "NodeRegistration", "SlurmAccount", "SlurmUser", "UpgradeDrain"]);
    for (const [kind, { serialized }] of providers) {
      const required = [...serialized.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
      expect({ kind, relative: required.filter((r) => r.startsWith(".") || r.startsWith("/") || r.endsWith(".ts")) }).toEqual({ kind, relative: [] });
      // docker/engine.ts travels inside: the one client code, not a copy in the component.
      expect({ kind, hasEngineCode: serialized.includes("dial-stdio") }).toEqual({ kind, hasEngineCode: true });
    }
  });

  it("loads in a plain Node, and the registration check reaches an engine through docker/ (a missing worker container)", async () => {
    const { serialized, inputs } = providers.get("NodeRegistration")!;
    const props = { ...inputs, __provider: undefined, dockerHost: engine.host, workerContainer: "slurm-ubuntu-nothing", state: "IDLE" };
    const res = await inPlainNode(serialized, `return (await provider.read("x", ${JSON.stringify(props)})).props.state;`);
    expect({ status: res.status, stderr: res.stderr }).toEqual({ status: 0, stderr: "" });
    expect(JSON.parse(res.stdout)).toBe("CONTAINER_MISSING");
  });

  it("the upgrade gate, run in a plain Node during an upgrade, asks the engine and finds nothing to drain", async () => {
    const { serialized, inputs } = providers.get("UpgradeDrain")!;
    const news = { ...inputs, __provider: undefined, dockerHost: engine.host, upgrading: true, scontrolContainer: "slurm-ubuntu-gone" };
    const res = await inPlainNode(serialized, `return (await provider.create(${JSON.stringify(news)})).outs.drainedFrom;`);
    expect({ status: res.status, stderr: res.stderr, out: res.stdout.trim() }).toEqual({ status: 0, stderr: "", out: '""' });
  });

  it("the users and accounting providers load in a plain Node and fail a command on a container that is not there with the engine's answer", async () => {
    for (const kind of ["LinuxUsers", "SlurmAccount"]) {
      const { serialized, inputs } = providers.get(kind)!;
      const news = { ...inputs, __provider: undefined, dockerHost: engine.host, containers: ["slurm-ubuntu-gone"], controllerContainer: "slurm-ubuntu-gone" };
      const res = await inPlainNode(serialized, `return await provider.create(${JSON.stringify(news)});`);
      expect({ kind, status: res.status }).toEqual({ kind, status: 3 });
      expect({ kind, said: res.stderr }).toEqual({ kind, said: expect.stringMatching(/HTTP code 404|not implemented|no such container/i) });
    }
  });
});

// Run as a child process by runner.test.ts: the program under mocks where one worker's container
// fails to be created. Its registration check, which takes that container's name, is then never
// registered; the run must still end, with the failure, once nothing else can happen.
import { runProgram } from "../../local-runner/program";
import { readStackConfig } from "../../local-runner/stack-config";
import { DEFAULT_FACTS, startFakeEngine } from "./fake-engine";

async function main(): Promise<void> {
  const fake = await startFakeEngine(DEFAULT_FACTS);
  let closed = false;
  const config = readStackConfig("ubuntu", [`docker:host=${fake.host}`, "allowInsecureDockerHost=true", "monitoring=false"]);
  const result = await runProgram("ubuntu", config, {
    async newResource(args) {
      // The engine was asked what it had to be asked; let the event loop run dry later.
      if (!closed && args.custom) {
        closed = true;
        void fake.close();
      }
      const inputs = args.inputs;
      if (args.type === "docker:index/container:Container" && inputs.name === "slurm-ubuntu-worker1") throw new Error("Bind for 127.0.0.1:6818 failed: port is already allocated");
      if (args.type === "docker:index/container:Container") return { id: `${inputs.name}-id`, state: { ...inputs, networkDatas: [{ ipAddress: "10.9.0.2" }] } };
      if (args.type.startsWith("pulumi-nodejs:dynamic")) return { id: "r", state: { ...inputs, state: "IDLE", cpus: 2, memoryMb: 1024, slurmVersion: "24.11.5", reason: "" } };
      if (args.type === "random:index/randomBytes:RandomBytes") return { id: "b", state: { ...inputs, base64: "AAAA" } };
      if (args.type === "random:index/randomPassword:RandomPassword") return { id: "p", state: { ...inputs, result: "pw" } };
      return { id: args.custom ? `${args.name}-id` : undefined, state: inputs };
    },
    call: () => ({}),
  });
  process.stdout.write(JSON.stringify({ errors: result.errors.map((e) => e.message), outputs: result.outputs }) + "\n");
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ thrown: String(err) }) + "\n");
});

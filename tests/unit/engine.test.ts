// The test engine's own pieces that need no Docker: if these are wrong, e2e results mean nothing.
import { durationNs } from "../engine/docker-resources";
import { unwrapSecrets } from "../engine/engine";
import { printableOutputs } from "../engine/program";
import { readStackConfig } from "../engine/stack-config";
import { hashInputs } from "../engine/state";

describe("test engine", () => {
  it("reads Docker durations", () => {
    expect(durationNs("2s")).toBe(2e9);
    expect(durationNs("1m30s")).toBe(90e9);
    expect(durationNs("500ms")).toBe(5e8);
    expect(() => durationNs("2 seconds")).toThrow(/cannot read duration/);
  });

  it("prints secrets as [secret] unless asked, like `pulumi stack output --json`", () => {
    const outputs = { database: { user: "slurm", password: { secret: "pw" } }, nodes: [{ name: "worker1" }] };
    expect(printableOutputs(outputs, false)).toEqual({ database: { user: "slurm", password: "[secret]" }, nodes: [{ name: "worker1" }] });
    expect(printableOutputs(outputs, true)).toEqual({ database: { user: "slurm", password: "pw" }, nodes: [{ name: "worker1" }] });
  });

  it("unwraps secrets nested in provider inputs", () => {
    const wire = { uploads: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: [{ file: "/k", content: "x" }] } };
    expect(unwrapSecrets(wire)).toEqual({ uploads: [{ file: "/k", content: "x" }] });
  });

  it("hashes inputs independently of key order", () => {
    expect(hashInputs({ a: 1, b: [1, { c: 2, d: 3 }] })).toBe(hashInputs({ b: [1, { d: 3, c: 2 }], a: 1 }));
    expect(hashInputs({ a: 1 })).not.toBe(hashInputs({ a: 2 }));
  });

  it("layers project defaults, the stack file and -c overrides", () => {
    const config = readStackConfig("qnap", ["workerCount=4", "docker:host=tcp://nas:2375"]);
    expect(config["slurm-cluster:baseImage"]).toBe("debian:trixie-slim"); // Pulumi.yaml default
    expect(config["slurm-cluster:workerMemoryMb"]).toBe("512"); // Pulumi.qnap.yaml
    expect(config["slurm-cluster:workerCount"]).toBe("4"); // -c
    expect(config["docker:host"]).toBe("tcp://nas:2375");
    expect(() => readStackConfig("nosuch")).toThrow(/no stack "nosuch".*stacks: .*ubuntu/);
  });
});

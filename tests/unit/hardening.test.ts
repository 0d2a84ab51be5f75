// The container baseline (issue: least privilege in every container): every container drops
// Docker's default capabilities and adds back only its role's, runs with no-new-privileges, has a
// memory limit; workers and the login node hold users' processes to userProcessLimit; the node
// exporter's root filesystem is read-only. systemd workers are the documented exception.
import { ROLE_CAPABILITIES, SERVICE_MEMORY_MB } from "../../config/render/container-baseline";
import { CONTAINER, ofType, runWithMocks } from "./harness";

const roleOf = (c: { inputs: Record<string, any> }) => c.inputs.labels.find((l: { label: string }) => l.label === "com.slurm-cluster.role").value; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("every container's baseline", () => {
  it("drops all capabilities, adds back its role's, sets no-new-privileges and a memory limit (monitoring on, none mode)", async () => {
    const run = await runWithMocks("ubuntu", ["monitoring=true", "grafana=true"]);
    expect(run.error).toBeUndefined();
    const containers = ofType(run, CONTAINER);
    expect(containers.map(roleOf).sort()).toEqual(
      ["alertmanager", "controller", "database", "grafana", "login", "node-exporter", "prometheus", "rest", "slurm-exporter", "slurmdbd", "worker", "worker"],
    );
    for (const c of containers) {
      const role = roleOf(c) as keyof typeof ROLE_CAPABILITIES;
      const adds = [...ROLE_CAPABILITIES[role].adds].sort();
      expect([c.inputs.name, c.inputs.capabilities]).toEqual([c.inputs.name, { drops: ["ALL"], ...(adds.length > 0 ? { adds } : {}) }]);
      expect([c.inputs.name, c.inputs.securityOpts]).toEqual([c.inputs.name, ["no-new-privileges:true"]]);
      const memory = role === "worker" ? 1024 + 128 : SERVICE_MEMORY_MB[role];
      expect([c.inputs.name, c.inputs.memory, c.inputs.memorySwap]).toEqual([c.inputs.name, memory, memory]);
      const nproc = role === "worker" || role === "login" ? [{ name: "nproc", soft: 4096, hard: 4096 }] : undefined;
      expect([c.inputs.name, c.inputs.ulimits]).toEqual([c.inputs.name, nproc]);
      expect([c.inputs.name, c.inputs.readOnly ?? false]).toEqual([c.inputs.name, role === "node-exporter"]);
    }
  });

  it("cgroup and systemd workers on Slurm 26.05 add SYS_NICE (slurmstepd binds a user's task from root); none mode and 24.11 do not", async () => {
    const worker1 = async (overrides: string[]) => ofType(await runWithMocks("ubuntu", overrides), CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-worker1")!.inputs.capabilities;
    expect(await worker1(["slurmRelease=26.05", "cgroupMode=cgroup"])).toEqual({ drops: ["ALL"], adds: ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID", "SYS_NICE"] });
    expect(await worker1(["slurmRelease=26.05", "cgroupMode=systemd", "allowHostCgroupWrite=true"])).toEqual({ drops: ["NET_RAW"], adds: ["SYS_NICE"] });
    expect(await worker1(["slurmRelease=26.05"])).toEqual({ drops: ["ALL"], adds: ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID"] });
    expect(await worker1(["cgroupMode=cgroup"])).toEqual({ drops: ["ALL"], adds: ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID"] });
  });

  it("serviceMemoryMb gives every service container one limit; userProcessLimit sets the nproc limit", async () => {
    const run = await runWithMocks("ubuntu", ["serviceMemoryMb=300", "userProcessLimit=200"]);
    for (const c of ofType(run, CONTAINER)) {
      if (roleOf(c) !== "worker") expect([c.inputs.name, c.inputs.memory]).toEqual([c.inputs.name, 300]);
      if (["worker", "login"].includes(roleOf(c))) expect(c.inputs.ulimits).toEqual([{ name: "nproc", soft: 200, hard: 200 }]);
    }
  });

  it("cgroup v2 workers on Docker before 28 add SYS_ADMIN (allowHostCgroupWrite); systemd workers keep Docker's defaults but NET_RAW, without no-new-privileges", async () => {
    const v2 = await runWithMocks("ubuntu", ["cgroupMode=cgroup", "hostCgroupVersion=2", "allowHostCgroupWrite=true"]);
    const w = ofType(v2, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-worker1")!;
    expect(w.inputs.capabilities).toEqual({ drops: ["ALL"], adds: ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID", "SYS_ADMIN"] });
    expect(w.inputs.securityOpts).toEqual(["no-new-privileges:true", "apparmor=unconfined"]);
    const systemd = await runWithMocks("ubuntu", ["cgroupMode=systemd", "hostCgroupVersion=1", "allowHostCgroupWrite=true"]);
    const s = ofType(systemd, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-worker1")!;
    expect(s.inputs.capabilities).toEqual({ drops: ["NET_RAW"] });
    expect(s.inputs.securityOpts).toEqual([]);
    expect(s.inputs.memory).toBe(1024 + 192);
  });

  it.each([
    ["userProcessLimit=10", /slurm-cluster:userProcessLimit = "10": expected a whole number from 64 to 1048576/],
    ["serviceMemoryMb=8", /slurm-cluster:serviceMemoryMb = "8": expected auto \(each service's own limit/],
    ["serviceMemoryMb=lots", /slurm-cluster:serviceMemoryMb = "lots": expected auto/],
  ])("refuses %s before anything is created", async (override, message) => {
    const run = await runWithMocks("ubuntu", [override]);
    expect(run.error?.message).toMatch(message);
    expect(run.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
  });
});

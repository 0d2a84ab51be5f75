// Worker modes end to end on this machine's host (cgroup v1 here; the version is asked of the
// Docker engine, as `hostCgroupVersion=auto` does). `none` is covered by cluster.test.ts.
// Each mode must register its nodes, show its plugins, put jobs under Slurm's job cgroups and
// stop a job that uses more memory than it asked for.
import { execFileSync } from "child_process";
import { docker, dockerExec, npmRun, waitForJobEnd } from "./helpers";

const STACK = "ubuntu";
/** What a worker's slurmd keeps of Docker's capabilities in the baseline (config/render/container-baseline.ts). */
const SLURMD_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID"];
jest.setTimeout(15 * 60 * 1000);

interface Outputs {
  cgroupMode: string;
  hostCgroupVersion: number;
  controller: { containerName: string };
  nodes: { name: string; containerName: string; state: string }[];
}

const engineCgroupVersion = Number(docker(["info", "--format", "{{.CgroupVersion}}"]) || "1");
const engineMajor = Number(/^(\d+)\./.exec(docker(["info", "--format", "{{.ServerVersion}}"]))?.[1] ?? 0);
const engineDriver = docker(["info", "--format", "{{.CgroupDriver}}"]).trim();
/**
 * Where the host cannot give a worker only its own cgroup subtree (README, Worker modes): systemd
 * or GPUs on v1, the systemd cgroup driver on v1, a v2 engine before Docker 28. The stack must
 * then say allowHostCgroupWrite=true, and the worker gets the host's cgroups.
 */
const needsHostCgroupWrite = (mode: string, gpus = false) =>
  engineCgroupVersion === 1 ? mode === "systemd" || gpus || engineDriver === "systemd" : engineMajor < 28;
const hostCgroupWriteArgs = (mode: string, gpus = false) => (needsHostCgroupWrite(mode, gpus) ? ["-c", "allowHostCgroupWrite=true"] : []);
/** The controllers whose own parent cgroup a v1 worker gets (config/render/container-settings.ts). */
const OWN_V1_CONTROLLERS = ["cpuacct", "cpuset", "devices", "freezer", "memory"];
// No GPU here: character devices with NVIDIA's major number (195) stand in for four, two per
// worker. Opening one reaches the device node (ENXIO: no driver) unless the job's devices
// cgroup denies it (EPERM), which is what containment is.
const FAKE_GPUS = "/tmp/slurm-cluster-fake-gpus-modes";
const GPU_FILES = [0, 1, 2, 3].map((k) => `${FAKE_GPUS}/nvidia${k}`);

beforeAll(() => npmRun("local:down", [STACK, "--volumes"]));
afterAll(() => npmRun("local:down", [STACK, "--volumes"]));

/** Submits a batch job and waits for accounting to record how it ended. */
async function runJob(ctl: string, args: string[]): Promise<{ id: string; state: string }> {
  const id = dockerExec(ctl, ["sbatch", "--parsable", ...args]).trim();
  try {
    return { id, state: await waitForJobEnd(ctl, id, 120) };
  } catch (err) {
    // Say what Slurm saw, so a failure here can be understood from the CI log alone.
    const evidence = [["squeue", "-a"], ["scontrol", "show", "job", id], ["sinfo", "-N", "-l"]]
      .map((cmd) => { try { return dockerExec(ctl, cmd); } catch (e) { return String(e); } })
      .join("\n");
    throw new Error(`${(err as Error).message}\n${evidence}\n${docker(["logs", "--tail", "30", ctl])}`);
  }
}

describe.each(["cgroup", "systemd"])("cgroupMode=%s", (mode) => {
  let outputs: Outputs;
  let ctl: string;

  beforeAll(() => {
    // Monitoring is covered by monitoring.test.ts; leaving it off keeps this file quick.
    outputs = JSON.parse(npmRun("local:up", [STACK, "-c", `cgroupMode=${mode}`, "-c", "monitoring=false", ...hostCgroupWriteArgs(mode)]));
    ctl = outputs.controller.containerName;
  });

  test("every node is IDLE, on the host cgroup version the engine reports", () => {
    expect(outputs.cgroupMode).toBe(mode);
    expect(outputs.hostCgroupVersion).toBe(engineCgroupVersion);
    expect(outputs.nodes.map((n) => n.state)).toEqual(["IDLE", "IDLE"]);
  });

  test("scontrol show config shows the cgroup plugins", () => {
    const config = dockerExec(ctl, ["scontrol", "show", "config"]);
    expect(config).toMatch(/^ProctrackType\s+= proctrack\/cgroup$/m);
    expect(config).toMatch(/^TaskPlugin\s+= task\/cgroup,task\/affinity$/m);
    expect(config).toMatch(/^JobAcctGatherType\s+= jobacct_gather\/cgroup$/m);
    const cgroupConf = dockerExec(outputs.nodes[0].containerName, ["cat", "/etc/slurm/cgroup.conf"]);
    expect(cgroupConf).toMatch(new RegExp(`^CgroupPlugin=cgroup/v${engineCgroupVersion}$`, "m"));
  });

  test("a job's processes live in Slurm's job cgroup", async () => {
    const { id, state } = await runJob(ctl, ["-w", "worker1", "--mem=64M", "-o", "/shared/cgroup-%j.out", "--wrap", "cat /proc/self/cgroup"]);
    expect(state).toBe("COMPLETED");
    const out = dockerExec(ctl, ["cat", `/shared/cgroup-${id}.out`]);
    // A worker with its own subtree reads the job's cgroup relative to its private namespace's root
    // (its container's cgroup), whose sibling slurm_worker1 is: "/../slurm_worker1/...".
    const jobCgroup = engineCgroupVersion === 1
      ? new RegExp(`^\\d+:memory:(/\\.\\.)?/slurm_worker1/uid_0/job_${id}/step_batch(/task_0)?$`, "m")
      : new RegExp(`^0::/.*job_${id}/step_batch`, "m");
    expect(out).toMatch(jobCgroup);
  });

  test("a job that allocates far more than --mem=64M is stopped by the limit", async () => {
    // `tail /dev/zero` buffers an endless line: it grows until something stops it.
    const { state } = await runJob(ctl, ["-w", "worker2", "--mem=64M", "-o", "/dev/null", "--wrap", "timeout 60 tail /dev/zero"]);
    expect(state).toBe("OUT_OF_MEMORY");
    // The worker itself survived.
    expect(dockerExec(ctl, ["sinfo", "-p", "main", "-h", "-n", "worker2", "-o", "%t"]).trim()).toBe("idle");
  });

  test("the worker gets only the grants the README lists for the mode", () => {
    const inspect = JSON.parse(docker(["inspect", outputs.nodes[0].containerName]))[0];
    expect(inspect.HostConfig.Privileged).toBe(false);
    // cgroup mode: the baseline (every default dropped, slurmd's own added back); systemd mode keeps
    // Docker's defaults but NET_RAW (README, Container baseline). v2 hosts add SYS_ADMIN (and
    // apparmor=unconfined) to either only before Docker 28, with allowHostCgroupWrite.
    const own = mode === "cgroup" ? SLURMD_CAPABILITIES : [];
    const hostWrite = needsHostCgroupWrite(mode);
    expect(inspect.HostConfig.CapAdd ?? []).toEqual(engineCgroupVersion === 2 && hostWrite ? [...own, "SYS_ADMIN"].sort() : own);
    expect(inspect.HostConfig.CapDrop).toEqual(mode === "cgroup" ? ["ALL"] : ["NET_RAW"]);
    const hostCgroupfs = expect.objectContaining({ Type: "bind", Source: "/sys/fs/cgroup", Destination: "/sys/fs/cgroup", RW: true });
    if (engineCgroupVersion === 1 && hostWrite) {
      expect(inspect.HostConfig.CgroupnsMode).toBe("host");
      expect(inspect.Mounts).toContainEqual(hostCgroupfs);
    } else if (engineCgroupVersion === 1) {
      // Its own parent cgroup, named for the container, in each controller Slurm uses; nothing else of the host's.
      const name = outputs.nodes[0].containerName;
      expect(inspect.HostConfig.CgroupnsMode).toBe("private");
      expect(inspect.HostConfig.CgroupParent).toBe(`/${name}`);
      expect([...inspect.HostConfig.Binds].sort()).toEqual(OWN_V1_CONTROLLERS.map((c) => `/sys/fs/cgroup/${c}/${name}:/sys/fs/cgroup/${c}`));
      expect(inspect.Mounts).not.toContainEqual(hostCgroupfs);
    } else {
      expect(inspect.HostConfig.CgroupnsMode).toBe("private");
      expect(inspect.HostConfig.SecurityOpt).toContain(hostWrite ? "apparmor=unconfined" : "writable-cgroups=true");
    }
  });

  test("the worker writes cgroups only in its own subtree", () => {
    const worker = outputs.nodes[0].containerName;
    if (needsHostCgroupWrite(mode)) {
      // The stack allowed the host's cgroups (allowHostCgroupWrite): nothing narrower to show here.
      expect(JSON.parse(docker(["inspect", worker]))[0].HostConfig.CgroupnsMode).toBe(engineCgroupVersion === 1 ? "host" : "private");
      return;
    }
    // A cgroup in a hierarchy Slurm does not use, and one above the worker's own, cannot be made.
    const attempt = (dir: string) => dockerExec(worker, ["bash", "-c", `mkdir ${dir} 2>&1 && rmdir ${dir}; true`]);
    if (engineCgroupVersion === 1) {
      expect(attempt("/sys/fs/cgroup/blkio/slurm-cluster-e2e-probe")).toMatch(/Read-only file system/);
      // The memory hierarchy the worker sees holds only its container's cgroup and Slurm's.
      const dirs = dockerExec(worker, ["find", "/sys/fs/cgroup/memory", "-mindepth", "1", "-maxdepth", "1", "-type", "d", "-printf", "%f\n"]).split("\n").filter(Boolean).sort();
      const id = JSON.parse(docker(["inspect", worker]))[0].Id;
      expect(dirs).toEqual([id, "slurm_worker1"].sort());
      // On this machine (the engine's host) Slurm's job cgroups sit under the worker's own parent.
      expect(execFileSync("ls", [`/sys/fs/cgroup/memory/${worker}`]).toString()).toMatch(/^slurm_worker1$/m);
    } else {
      // v2: the namespace root is the container's cgroup; the kernel hides everything above it.
      expect(dockerExec(worker, ["cat", "/proc/self/cgroup"]).trim()).toMatch(/^0::\/[^.]*$/);
    }
  });

  test("with GPUs, a job sees CUDA_VISIBLE_DEVICES=0 and can open only its own GPU; a job without GPUs none", () => {
    execFileSync("mkdir", ["-p", FAKE_GPUS]);
    GPU_FILES.forEach((file, k) => execFileSync("bash", ["-c", `[ -c ${file} ] || mknod ${file} c 195 ${k}`]));
    const up = JSON.parse(
      npmRun("local:up", [STACK, "-c", `cgroupMode=${mode}`, "-c", "monitoring=false", "-c", "gpusPerWorker=2", "-c", `gpuDevices=${GPU_FILES.join(",")}`, ...hostCgroupWriteArgs(mode, true)]),
    );
    expect(up.nodes.map((n: { state: string }) => n.state)).toEqual(["IDLE", "IDLE"]);
    // worker2 has the host's nvidia2 and nvidia3.
    const open = "echo $CUDA_VISIBLE_DEVICES; for d in /dev/nvidia2 /dev/nvidia3; do cat $d 2>&1; done; true";
    const run = (gres: string[]) => dockerExec(ctl, ["srun", "-w", "worker2", ...gres, "bash", "-c", open]).split("\n").filter(Boolean);
    expect(run(["--gres=gpu:1"])).toEqual(["0", "cat: /dev/nvidia2: No such device or address", "cat: /dev/nvidia3: Operation not permitted"]);
    expect(run([])).toEqual(["cat: /dev/nvidia2: Operation not permitted", "cat: /dev/nvidia3: Operation not permitted"]);
    expect(run(["--gres=gpu:2"])).toEqual(["0,1", "cat: /dev/nvidia2: No such device or address", "cat: /dev/nvidia3: No such device or address"]);
    // On cgroup v1 the kernel lets slurmstepd write devices.deny only with SYS_ADMIN (README).
    expect(JSON.parse(docker(["inspect", "slurm-ubuntu-worker2"]))[0].HostConfig.CapAdd).toEqual([...(mode === "cgroup" ? SLURMD_CAPABILITIES : []), "SYS_ADMIN"].sort());
  });

  if (mode === "systemd") {
    test("systemd is PID 1 and runs munge and slurmd as units", () => {
      const worker = outputs.nodes[0].containerName;
      expect(dockerExec(worker, ["ps", "-p", "1", "-o", "comm="]).trim()).toBe("systemd");
      expect(dockerExec(worker, ["systemctl", "is-active", "munge.service", "slurmd.service"]).trim().split("\n")).toEqual(["active", "active"]);
      expect(dockerExec(worker, ["systemctl", "is-system-running"]).trim()).toBe("running");
      // The role's unused units are disabled in the image.
      expect(() => dockerExec(worker, ["systemctl", "is-enabled", "slurmctld.service"])).toThrow();
    });
  }
});

test("a mode that needs the host's cgroups is refused before anything is created, naming allowHostCgroupWrite", () => {
  if (!needsHostCgroupWrite("systemd")) return; // this engine delegates a systemd worker its own subtree
  npmRun("local:down", [STACK, "--volumes"]);
  expect(() => npmRun("local:up", [STACK, "-c", "cgroupMode=systemd", "-c", "monitoring=false"])).toThrow(
    /slurm-cluster:cgroupMode = "systemd" needs write access to the host's cgroups here: .*; set slurm-cluster:allowHostCgroupWrite=true/,
  );
  expect(docker(["ps", "-a", "--filter", `label=com.slurm-cluster.stack=${STACK}`, "--format", "{{.Names}}"]).trim()).toBe("");
});

test("a mode pointed at the wrong cgroup version fails fast, saying what to change", () => {
  const wrong = engineCgroupVersion === 1 ? "2" : "1";
  const started = Date.now();
  // The settings for the wrong version may need the host's cgroups (v2 before Docker 28, v1 with the systemd driver).
  const consent = (wrong === "2" ? engineMajor < 28 : engineDriver === "systemd") ? ["-c", "allowHostCgroupWrite=true"] : [];
  expect(() => npmRun("local:up", [STACK, "-c", "cgroupMode=cgroup", "-c", `hostCgroupVersion=${wrong}`, "-c", "monitoring=false", ...consent])).toThrow(
    new RegExp(`Slurm node worker1 cannot register: the container slurm-ubuntu-worker1 keeps stopping[\\s\\S]*FATAL: cgroup.conf asks for cgroup/v${wrong} but this host runs cgroup v${engineCgroupVersion}; set slurm-cluster:hostCgroupVersion=${engineCgroupVersion} \\(or auto\\)`),
  );
  // Well before the 180 s registration timeout: the crash loop is recognised, not waited out.
  expect(Date.now() - started).toBeLessThan(90_000);
});

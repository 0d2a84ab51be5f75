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
    outputs = JSON.parse(npmRun("local:up", [STACK, "-c", `cgroupMode=${mode}`, "-c", "monitoring=false"]));
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
    const jobCgroup = engineCgroupVersion === 1
      ? new RegExp(`^\\d+:memory:/slurm_worker1/uid_0/job_${id}/step_batch(/task_0)?$`, "m")
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
    // Docker's defaults but NET_RAW (README, Container baseline). v2 hosts add SYS_ADMIN to either.
    const own = mode === "cgroup" ? SLURMD_CAPABILITIES : [];
    expect(inspect.HostConfig.CapAdd ?? []).toEqual(engineCgroupVersion === 1 ? own : [...own, "SYS_ADMIN"].sort());
    expect(inspect.HostConfig.CapDrop).toEqual(mode === "cgroup" ? ["ALL"] : ["NET_RAW"]);
    if (engineCgroupVersion === 1) {
      expect(inspect.HostConfig.CgroupnsMode).toBe("host");
      expect(inspect.Mounts).toContainEqual(expect.objectContaining({ Type: "bind", Source: "/sys/fs/cgroup", Destination: "/sys/fs/cgroup", RW: true }));
    }
  });

  test("with GPUs, a job sees CUDA_VISIBLE_DEVICES=0 and can open only its own GPU; a job without GPUs none", () => {
    execFileSync("mkdir", ["-p", FAKE_GPUS]);
    GPU_FILES.forEach((file, k) => execFileSync("bash", ["-c", `[ -c ${file} ] || mknod ${file} c 195 ${k}`]));
    const up = JSON.parse(npmRun("local:up", [STACK, "-c", `cgroupMode=${mode}`, "-c", "monitoring=false", "-c", "gpusPerWorker=2", "-c", `gpuDevices=${GPU_FILES.join(",")}`]));
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

test("a mode pointed at the wrong cgroup version fails fast, saying what to change", () => {
  const wrong = engineCgroupVersion === 1 ? "2" : "1";
  const started = Date.now();
  expect(() => npmRun("local:up", [STACK, "-c", "cgroupMode=cgroup", "-c", `hostCgroupVersion=${wrong}`, "-c", "monitoring=false"])).toThrow(
    new RegExp(`Slurm node worker1 cannot register: the container slurm-ubuntu-worker1 keeps stopping[\\s\\S]*FATAL: cgroup.conf asks for cgroup/v${wrong} but this host runs cgroup v${engineCgroupVersion}; set slurm-cluster:hostCgroupVersion=${engineCgroupVersion} \\(or auto\\)`),
  );
  // Well before the 180 s registration timeout: the crash loop is recognised, not waited out.
  expect(Date.now() - started).toBeLessThan(90_000);
});

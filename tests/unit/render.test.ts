import { ClusterSpec } from "../../config";
import { engineReporting, testSpec } from "./spec";
import { EngineCgroupSupport } from "../../config/keys";
import { epilogLines, renderCgroupConf, renderGresConf, renderSlurmConf, slurmConfForWorkers, renderWorkerNodeConf, renderSlurmdbdConf, restOpenapiVersion, slurmctldMetricsLines, workerCgroupSubtree, workerContainerSettings } from "../../config/render";

const spec = (raw: Record<string, string> = {}) =>
  testSpec({ "slurm-cluster:clusterName": "lab", ...raw }, "ubuntu");

const lines = (text: string) => text.split("\n");

describe("slurm.conf", () => {
  let conf: string;
  beforeAll(async () => {
    conf = renderSlurmConf(await spec({ "slurm-cluster:workerCount": "3", "slurm-cluster:workerCpus": "4", "slurm-cluster:workerMemoryMb": "2048" }));
  });

  it("names the stack in its header", async () => {
    expect(conf.split("\n")[0]).toBe('# slurm.conf for Slurm cluster "lab" (Pulumi project slurm-cluster, stack ubuntu).');
  });

  it("names no node: workers register as dynamic nodes, all in one partition", async () => {
    expect(conf).not.toMatch(/^NodeName=/m);
    expect(lines(conf)).toContain("MaxNodeCount=256");
    expect(lines(conf)).toContain("PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP");
    // Containers see the host's hardware; without this, slurmd drains nodes whose sizes differ.
    expect(lines(conf)).toContain("SlurmdParameters=config_overrides");
  });

  it("is the same file whatever the worker count, so scaling replaces no Slurm container", async () => {
    const other = renderSlurmConf(await spec({ "slurm-cluster:workerCount": "9", "slurm-cluster:workerCpus": "4", "slurm-cluster:workerMemoryMb": "2048" }));
    expect(other).toBe(conf);
  });

  it("has each worker announce the configured size when it registers", async () => {
    const s = await spec({ "slurm-cluster:workerCpus": "4", "slurm-cluster:workerMemoryMb": "2048" });
    expect(renderWorkerNodeConf(s, s.workers[0])).toBe("CPUs=4 RealMemory=2048 Feature=ubuntu,amd64");
  });

  it("gives a job that does not ask for memory a per-CPU share of its node, not the whole node", async () => {
    expect(lines(conf)).toContain("DefMemPerCPU=512"); // 2048 MiB over 4 CPUs
  });

  it("cancels a job whose afterok dependency failed, so a template's pipeline ends", () => {
    expect(lines(conf)).toContain("DependencyParameters=kill_invalid_depend");
  });

  it("schedules short jobs on events (schedulerProfile=throughput), backfill at its default interval", async () => {
    expect(lines(conf)).toContain("SchedulerParameters=sched_min_interval=0,batch_sched_delay=0,sched_interval=1,bf_interval=30,default_queue_depth=1000");
    const stock = renderSlurmConf(await spec({ "slurm-cluster:schedulerProfile": "stock" }));
    expect(stock).not.toMatch(/^(Epilog|SchedulerParameters)=/m);
  });

  it("frees a finished job's slot at once with an epilog on native workers, none on emulated ones", async () => {
    // With an epilog slurmd reports epilog-complete, which slurmctld schedules on at once (without:
    // up to a second per job). Under emulation slurmd cannot exec one and would drain the node.
    expect(lines(conf)).toContain("Epilog=/bin/true");
    const arm64OnAmd64 = await testSpec({ "slurm-cluster:clusterName": "lab", "slurm-cluster:platform": "linux/arm64" }, "ubuntu", engineReporting(2, 24 * 1024, "linux/amd64"));
    expect(arm64OnAmd64.emulated).toBe(true);
    const emulated = renderSlurmConf(arm64OnAmd64);
    expect(emulated).not.toMatch(/^Epilog=/m);
    expect(emulated).toMatch(/^# No Epilog: these workers run under emulation/m);
    const nativeArm64 = await testSpec({ "slurm-cluster:clusterName": "lab", "slurm-cluster:platform": "linux/arm64" }, "ubuntu", engineReporting(2, 24 * 1024, "linux/arm64"));
    expect(lines(renderSlurmConf(nativeArm64))).toContain("Epilog=/bin/true");
  });

  it("gives a workers stack on an emulating host the cluster's slurm.conf without the epilog, comment and all", () => {
    expect(slurmConfForWorkers(conf, false)).toBe(conf);
    const emulated = slurmConfForWorkers(conf, true);
    expect(emulated).not.toMatch(/^Epilog=|epilog-complete/m);
    expect(emulated).toContain(epilogLines(true).join("\n"));
    expect(emulated.replace(epilogLines(true).join("\n"), epilogLines(false).join("\n"))).toBe(conf);
  });

  it("makes job mail a no-op: no mailer is installed", async () => {
    expect(lines(conf)).toContain("MailProg=/bin/true");
  });

  it("points at the controller, slurmdbd and the state volume", async () => {
    expect(lines(conf)).toEqual(expect.arrayContaining([
      "ClusterName=lab",
      "SlurmctldHost=controller",
      "AccountingStorageType=accounting_storage/slurmdbd",
      "AccountingStorageHost=slurmdbd",
      "StateSaveLocation=/var/lib/slurm/slurmctld",
      "AuthType=auth/munge",
    ]));
  });

  it("uses no cgroup plugin in none mode", async () => {
    expect(lines(conf)).toContain("ProctrackType=proctrack/linuxproc");
    expect(lines(conf)).toContain("JobAcctGatherType=jobacct_gather/linux");
    expect(conf).not.toMatch(/^TaskPlugin=/m);
    expect(conf).not.toMatch(/cgroup\//);
  });
});

describe("cgroup.conf", () => {
  it("disables the cgroup plugin in none mode: slurmd's dbus failure cannot happen", async () => {
    // slurmd that autodetects cgroup/v2 with no systemd in the container asks dbus for a scope and
    // exits with "cgroup_dbus_attach_to_scope: cannot connect to dbus system daemon".
    // CgroupPlugin=disabled means slurmd never loads a cgroup plugin at all.
    for (const v of ["1", "2"]) {
      const conf = renderCgroupConf(await spec({ "slurm-cluster:hostCgroupVersion": v }));
      expect(lines(conf)).toContain("CgroupPlugin=disabled");
      expect(conf).not.toMatch(/^CgroupPlugin=(autodetect|cgroup\/v2)/m);
    }
  });

  it("in cgroup mode on a v2 host, creates scopes without systemd: the setting that prevents the dbus call", async () => {
    // Same failure, cgroup mode: cgroup/v2 with no systemd as PID 1 must not ask dbus for a scope.
    // IgnoreSystemd=yes is what tells slurmd to create it itself; without it that error returns.
    const conf = lines(renderCgroupConf(await spec({ "slurm-cluster:cgroupMode": "cgroup", "slurm-cluster:hostCgroupVersion": "2" })));
    expect(conf).toEqual(expect.arrayContaining(["CgroupPlugin=cgroup/v2", "IgnoreSystemd=yes", "EnableControllers=yes"]));
  });
});

// Every cgroupMode x host cgroup version: the plugins slurm.conf and cgroup.conf name.
const COMBINATIONS: [string, string, string[], string[], string[]][] = [
  ["none", "1", ["ProctrackType=proctrack/linuxproc", "JobAcctGatherType=jobacct_gather/linux"], ["CgroupPlugin=disabled"], ["TaskPlugin=", "Constrain"]],
  ["none", "2", ["ProctrackType=proctrack/linuxproc", "JobAcctGatherType=jobacct_gather/linux"], ["CgroupPlugin=disabled"], ["TaskPlugin=", "Constrain"]],
  ["cgroup", "1", ["ProctrackType=proctrack/cgroup", "TaskPlugin=task/cgroup,task/affinity", "JobAcctGatherType=jobacct_gather/cgroup"], ["CgroupPlugin=cgroup/v1", "ConstrainCores=yes", "ConstrainRAMSpace=yes", "ConstrainDevices=yes"], ["IgnoreSystemd", "EnableControllers"]],
  ["cgroup", "2", ["ProctrackType=proctrack/cgroup", "TaskPlugin=task/cgroup,task/affinity", "JobAcctGatherType=jobacct_gather/cgroup"], ["CgroupPlugin=cgroup/v2", "IgnoreSystemd=yes", "EnableControllers=yes", "ConstrainCores=yes", "ConstrainRAMSpace=yes", "ConstrainDevices=yes"], []],
  ["systemd", "1", ["ProctrackType=proctrack/cgroup", "TaskPlugin=task/cgroup,task/affinity", "JobAcctGatherType=jobacct_gather/cgroup"], ["CgroupPlugin=cgroup/v1", "ConstrainCores=yes", "ConstrainRAMSpace=yes", "ConstrainDevices=yes"], ["IgnoreSystemd", "EnableControllers"]],
  ["systemd", "2", ["ProctrackType=proctrack/cgroup", "TaskPlugin=task/cgroup,task/affinity", "JobAcctGatherType=jobacct_gather/cgroup"], ["CgroupPlugin=cgroup/v2", "ConstrainCores=yes", "ConstrainRAMSpace=yes", "ConstrainDevices=yes"], ["IgnoreSystemd", "EnableControllers"]],
];

describe.each(COMBINATIONS)("cgroupMode=%s on a cgroup v%s host", (mode, version, slurmLines, cgroupLines, absent) => {
  let s: ClusterSpec;
  beforeAll(async () => {
    // systemd on v1 writes the host's cgroups: only with the stack's consent.
    s = await spec({ "slurm-cluster:cgroupMode": mode, "slurm-cluster:hostCgroupVersion": version, "slurm-cluster:allowHostCgroupWrite": String(mode === "systemd" && version === "1") });
  });
  it("renders the mode's plugins", async () => {
    expect(lines(renderSlurmConf(s))).toEqual(expect.arrayContaining(slurmLines));
    const cgroup = renderCgroupConf(s);
    expect(lines(cgroup)).toEqual(expect.arrayContaining(cgroupLines));
    for (const word of absent) expect(cgroup + (word === "TaskPlugin=" ? renderSlurmConf(s) : "")).not.toMatch(new RegExp(`^${word}`, "m"));
  });
});

describe("slurmdbd.conf", () => {
  it("points at the database with the given password", async () => {
    const conf = renderSlurmdbdConf(await spec(), "S3cret");
    expect(lines(conf)).toEqual(expect.arrayContaining([
      "DbdHost=slurmdbd",
      "StorageType=accounting_storage/mysql",
      "StorageHost=database",
      "StoragePort=3306",
      "StorageUser=slurm",
      "StoragePass=S3cret",
      "StorageLoc=slurm_acct_db",
    ]));
  });
});

describe("worker container settings", () => {
  const OLD_ENGINE = { driver: "cgroupfs", writableCgroups: false } as const;
  const settings = async (mode: string, version: string, extra: Record<string, string> = {}, engine: EngineCgroupSupport = { driver: "cgroupfs", writableCgroups: true }) =>
    workerContainerSettings(
      await testSpec({ "slurm-cluster:cgroupMode": mode, "slurm-cluster:hostCgroupVersion": version, ...extra }, "ubuntu", engineReporting(Number(version) as 1 | 2, undefined, undefined, undefined, engine)),
    );
  const cgroupfsRw = { type: "bind", source: "/sys/fs/cgroup", target: "/sys/fs/cgroup", readOnly: false };
  const allowed = { "slurm-cluster:allowHostCgroupWrite": "true" };

  it.each(["1", "2"])("grant nothing beyond Docker's defaults in none mode (v%s), even when privileged is allowed", async (v) => {
    for (const extra of [{}, { "slurm-cluster:allowPrivileged": "true" }] as Record<string, string>[]) {
      expect(await settings("none", v, extra)).toMatchObject({
        image: "slurm", command: ["worker"], capabilityAdds: [], securityOpts: [], privileged: false, mounts: [], tmpfs: {}, ownCgroupControllers: [],
      });
      expect((await settings("none", v, extra)).cgroupnsMode).toBeUndefined();
      expect((await settings("none", v, extra)).hostCgroupWrite).toBeUndefined();
    }
  });

  it("cgroup mode on v1: only its own parent cgroup per controller Slurm uses, read-write, in a private cgroup namespace; no host cgroupfs, no capability", async () => {
    const s = await settings("cgroup", "1");
    expect(s).toMatchObject({ image: "slurm", cgroupnsMode: "private", mounts: [], capabilityAdds: [], securityOpts: [], privileged: false });
    expect(s.hostCgroupWrite).toBeUndefined();
    expect(workerCgroupSubtree(s, "slurm-ubuntu-worker1")).toEqual({
      cgroupParent: "/slurm-ubuntu-worker1",
      volumes: ["cpuacct", "cpuset", "devices", "freezer", "memory"].map((c) => ({ hostPath: `/sys/fs/cgroup/${c}/slurm-ubuntu-worker1`, containerPath: `/sys/fs/cgroup/${c}`, readOnly: false })),
    });
  });

  it("cgroup mode on v2 with Docker 28+: a private cgroup namespace Docker mounts read-write (writable-cgroups), no SYS_ADMIN, AppArmor kept", async () => {
    const s = await settings("cgroup", "2");
    expect(s).toMatchObject({ image: "slurm", cgroupnsMode: "private", mounts: [], capabilityAdds: [], securityOpts: ["writable-cgroups=true"], privileged: false });
    expect(s.hostCgroupWrite).toBeUndefined();
    expect(workerCgroupSubtree(s, "slurm-ubuntu-worker1")).toEqual({ volumes: [] });
  });

  it("systemd mode on v2 with Docker 28+: its own namespace read-write, no SYS_ADMIN", async () => {
    const s = await settings("systemd", "2");
    expect(s).toMatchObject({ image: "slurm-systemd", cgroupnsMode: "private", mounts: [], capabilityAdds: [], securityOpts: ["writable-cgroups=true"] });
    expect(s.hostCgroupWrite).toBeUndefined();
  });

  // Where the host cannot delegate only the worker's own subtree: the host's cgroups (or SYS_ADMIN), with the reason.
  it.each([
    ["systemd", "1", {}, { driver: "cgroupfs", writableCgroups: true }, /systemd as PID 1 on a cgroup v1 host/, { cgroupnsMode: "host", mounts: [cgroupfsRw], capabilityAdds: [] }],
    ["cgroup", "1", { "slurm-cluster:gpusPerWorker": "1" }, { driver: "cgroupfs", writableCgroups: true }, /GPUs on a cgroup v1 host need CAP_SYS_ADMIN/, { cgroupnsMode: "host", mounts: [cgroupfsRw], capabilityAdds: ["SYS_ADMIN"] }],
    ["cgroup", "1", {}, { driver: "systemd", writableCgroups: false }, /systemd cgroup driver/, { cgroupnsMode: "host", mounts: [cgroupfsRw], capabilityAdds: [] }],
    ["cgroup", "2", {}, OLD_ENGINE, /older than 28/, { cgroupnsMode: "private", mounts: [], capabilityAdds: ["SYS_ADMIN"], securityOpts: ["apparmor=unconfined"] }],
    ["systemd", "2", {}, OLD_ENGINE, /older than 28/, { cgroupnsMode: "private", mounts: [], capabilityAdds: ["SYS_ADMIN"], securityOpts: ["apparmor=unconfined"] }],
  ] as [string, string, Record<string, string>, EngineCgroupSupport, RegExp, object][])(
    "%s mode on v%s (%j, %j) needs the host's cgroups, given only with allowHostCgroupWrite",
    async (mode, v, extra, engine, why, grants) => {
      const s = await settings(mode, v, { ...extra, ...allowed }, engine);
      expect(s).toMatchObject(grants);
      expect(s.hostCgroupWrite).toMatch(why);
      expect(s.ownCgroupControllers).toEqual([]);
      await expect(settings(mode, v, extra, engine)).rejects.toThrow(
        new RegExp(`slurm-cluster:cgroupMode = "${mode}" needs write access to the host's cgroups here: .*; set slurm-cluster:allowHostCgroupWrite=true to accept that`),
      );
    },
  );

  it("allowHostCgroupWrite=true changes nothing where the worker's own subtree works", async () => {
    expect(await settings("cgroup", "1", allowed)).toEqual(await settings("cgroup", "1"));
    expect(await settings("cgroup", "2", allowed)).toEqual(await settings("cgroup", "2"));
  });

  it.each(["1", "2"])("systemd mode (v%s): the systemd image as PID 1, tmpfs /run, SIGRTMIN+3, journal for the log", async (v) => {
    const s = await settings("systemd", v, allowed);
    expect(s).toMatchObject({
      image: "slurm-systemd",
      command: ["systemd"],
      stopSignal: "SIGRTMIN+3",
      tmpfs: { "/run": "rw,mode=755", "/run/lock": "rw,mode=755" },
      healthcheck: ["CMD", "systemctl", "is-active", "--quiet", "slurmd.service"],
      privileged: false,
    });
    expect(s.logCommand).toEqual(expect.arrayContaining(["journalctl", "slurmd.service"]));
    expect(s.cgroupnsMode).toBe(v === "1" ? "host" : "private");
    expect(s.mounts).toEqual(v === "1" ? [cgroupfsRw] : []);
  });

  it("allowPrivileged=true swaps the named grants for privileged, in cgroup and systemd modes only", async () => {
    const s = await settings("cgroup", "2", { "slurm-cluster:allowPrivileged": "true", ...allowed }, OLD_ENGINE);
    expect(s).toMatchObject({ privileged: true, capabilityAdds: [], securityOpts: [] });
    expect((await settings("systemd", "1", allowed)).privileged).toBe(false);
  });
});

// What differs between the releases, each difference seen running Slurm 26.05.5 here (README).
describe("per Slurm release", () => {
  it("the REST API version: the newest each serves (26.05 deprecates v0.0.42)", async () => {
    expect(restOpenapiVersion(await spec())).toBe("v0.0.42");
    expect(restOpenapiVersion(await spec({ "slurm-cluster:slurmRelease": "26.05" }))).toBe("v0.0.45");
  });

  it("a worker without GPUs: no gres.conf on 24.11; on 26.05 one that turns GPU autodetection off", async () => {
    const old = await spec();
    expect(renderGresConf(old, old.workers[0])).toBe("");
    const current = await spec({ "slurm-cluster:slurmRelease": "26.05" });
    expect(lines(renderGresConf(current, current.workers[0]))).toContain("AutoDetect=off");
    expect(renderGresConf(current, current.workers[0])).not.toMatch(/^Name=/m);
  });

  it.each(["24.11", "26.05"])("%s: slurm.conf (but for 26.05's metrics lines), cgroup.conf (both cgroup versions, every mode) and slurmdbd.conf are the same text (26.05 ran with them unchanged)", async (release) => {
    for (const mode of ["none", "cgroup", "systemd"]) {
      for (const v of ["1", "2"]) {
        const raw = { "slurm-cluster:cgroupMode": mode, "slurm-cluster:hostCgroupVersion": v, "slurm-cluster:allowHostCgroupWrite": "true" };
        const a = await spec(raw);
        const b = await spec({ ...raw, "slurm-cluster:slurmRelease": release });
        const metrics = slurmctldMetricsLines(b);
        expect(metrics.length > 0).toBe(release === "26.05");
        expect(renderSlurmConf(b).replace(metrics.length ? `${metrics.join("\n")}\n\n` : "", "")).toBe(renderSlurmConf(a));
        expect(renderCgroupConf(b)).toBe(renderCgroupConf(a));
        expect(renderSlurmdbdConf(b, "pw")).toBe(renderSlurmdbdConf(a, "pw"));
      }
    }
  });
});

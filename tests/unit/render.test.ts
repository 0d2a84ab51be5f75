import { parseClusterConfig } from "../../config/parse";
import { hostlist, renderCgroupConf, renderSlurmConf, renderSlurmdbdConf, workerContainerSettings } from "../../config/render";

const spec = (raw: Record<string, string> = {}) =>
  parseClusterConfig({ "slurm-cluster:clusterName": "lab", ...raw }, "slurm-cluster", "ubuntu");

const lines = (text: string) => text.split("\n");

describe("slurm.conf", () => {
  const conf = renderSlurmConf(spec({ "slurm-cluster:workerCount": "3", "slurm-cluster:workerCpus": "4", "slurm-cluster:workerMemoryMb": "2048" }));

  it("names the stack in its header", () => {
    expect(conf.split("\n")[0]).toBe('# slurm.conf for Slurm cluster "lab" (Pulumi project slurm-cluster, stack ubuntu).');
  });

  it("declares every worker with the configured CPUs and memory, in one partition", () => {
    expect(lines(conf)).toContain("NodeName=worker[1-3] CPUs=4 RealMemory=2048 State=UNKNOWN");
    expect(lines(conf)).toContain("PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP");
    // Containers see the host's hardware; without this, slurmd drains nodes whose sizes differ.
    expect(lines(conf)).toContain("SlurmdParameters=config_overrides");
  });

  it("points at the controller, slurmdbd and the state volume", () => {
    expect(lines(conf)).toEqual(expect.arrayContaining([
      "ClusterName=lab",
      "SlurmctldHost=controller",
      "AccountingStorageType=accounting_storage/slurmdbd",
      "AccountingStorageHost=slurmdbd",
      "StateSaveLocation=/var/lib/slurm/slurmctld",
      "AuthType=auth/munge",
    ]));
  });

  it("uses no cgroup plugin in none mode", () => {
    expect(lines(conf)).toContain("ProctrackType=proctrack/linuxproc");
    expect(lines(conf)).toContain("JobAcctGatherType=jobacct_gather/linux");
    expect(conf).not.toMatch(/^TaskPlugin=/m);
    expect(conf).not.toMatch(/cgroup\//);
  });
});

describe("cgroup.conf", () => {
  it("disables the cgroup plugin in none mode: the old setup's dbus failure cannot happen", () => {
    // The old Compose setup died with "cgroup_dbus_attach_to_scope: cannot connect to dbus system
    // daemon": slurmd autodetected cgroup/v2 and, with no systemd in the container, asked dbus for
    // a scope. CgroupPlugin=disabled means slurmd never loads a cgroup plugin at all.
    const conf = renderCgroupConf(spec());
    expect(lines(conf)).toContain("CgroupPlugin=disabled");
    expect(conf).not.toMatch(/^CgroupPlugin=(autodetect|cgroup\/v2)/m);
  });
});

describe("slurmdbd.conf", () => {
  it("points at the database with the given password", () => {
    const conf = renderSlurmdbdConf(spec(), "S3cret");
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
  it("grant nothing beyond Docker's defaults in none mode", () => {
    expect(workerContainerSettings(spec())).toEqual({ capabilityAdds: [], securityOpts: [], privileged: false, memoryHeadroomMb: 128 });
  });
});

describe("hostlist", () => {
  it.each([
    [["worker1"], "worker1"],
    [["worker1", "worker2"], "worker[1-2]"],
    [["worker1", "worker3"], "worker1,worker3"],
    [["a1", "b2"], "a1,b2"],
  ])("%j -> %s", (names, expected) => {
    expect(hostlist(names)).toBe(expected);
  });
});

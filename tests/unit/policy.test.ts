// The policy pack: each policy against a compliant and a violating resource (the pack's own
// functions), the offline runner for every stack, and settings that must produce a violation.
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { PackConfig, policies } from "../../policy/policies";
import { Violation, checkPolicies } from "../../local-runner/policy-check";
import { PROJECT_ROOT } from "../../local-runner/program";
import { DEFAULT_FACTS, startFakeEngine } from "./fake-engine";

const CONTAINER = "docker:index/container:Container";
const label = (role: string) => [{ label: "com.slurm-cluster.role", value: role }];
/** An OpenSSH private key's shape (not a real key): the policy looks for its body lines. */
const HOST_KEY = `-----BEGIN OPENSSH PRIVATE KEY-----\n${"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW".slice(0, 64)}\n${"QyNTUxOQAAACBqZXN0IGEgdGVzdCBrZXkgbm90IGEgcmVhbCBvbmUgYXQgYWxsIHh4eA".slice(0, 64)}\n-----END OPENSSH PRIVATE KEY-----\n`;

function resourceViolations(policyName: string, type: string, props: Record<string, unknown>, config: Partial<PackConfig> = {}): string[] {
  const policy = policies.find((p) => p.name === policyName) as ResourceValidationPolicy;
  const found: string[] = [];
  const args = {
    type, props, urn: `urn:pulumi:t::slurm-cluster::${type}::r`, name: "r", opts: {},
    getConfig: () => ({ allowPrivileged: false, allowPublicPorts: false, allowHostCgroupWrite: false, ...config }),
    notApplicable: () => { throw new Error("not applicable"); },
  } as unknown as ResourceValidationArgs;
  (policy.validateResource as (a: ResourceValidationArgs, r: (m: string) => void) => void)(args, (m) => found.push(m));
  return found;
}

describe("each policy", () => {
  const worker = { name: "w", labels: label("worker"), memory: 512, healthcheck: { tests: ["CMD", "true"] }, restart: "unless-stopped" };
  const ROWS: [string, string, Record<string, unknown>, Record<string, unknown>, Partial<PackConfig>?][] = [
    ["no-privileged-containers", CONTAINER, worker, { ...worker, privileged: true }],
    ["no-privileged-containers", CONTAINER, { ...worker, privileged: true }, { ...worker, labels: label("controller"), privileged: true }, { allowPrivileged: true }],
    ["privileged-by-choice", CONTAINER, worker, { ...worker, privileged: true }, { allowPrivileged: true }],
    ["least-capabilities", CONTAINER, { ...worker, capabilities: { drops: ["ALL"], adds: ["SYS_ADMIN", "KILL"] } }, { ...worker, capabilities: { drops: ["ALL"], adds: ["NET_ADMIN"] } }],
    ["least-capabilities", CONTAINER, { ...worker, labels: label("controller"), capabilities: { drops: ["ALL"], adds: ["SETUID"] } }, { ...worker, labels: label("controller"), capabilities: { drops: ["ALL"], adds: ["SYS_ADMIN"] } }],
    // Keeping Docker's defaults is a violation; a systemd worker must drop NET_RAW at least.
    ["least-capabilities", CONTAINER, { ...worker, capabilities: { drops: ["ALL"] } }, worker],
    ["least-capabilities", CONTAINER, { ...worker, stopSignal: "SIGRTMIN+3", capabilities: { drops: ["NET_RAW"] } }, { ...worker, stopSignal: "SIGRTMIN+3" }],
    ["no-new-privileges", CONTAINER, { ...worker, securityOpts: ["no-new-privileges:true"] }, worker],
    ["user-process-limit", CONTAINER, { ...worker, ulimits: [{ name: "nproc", soft: 4096, hard: 4096 }] }, { ...worker, labels: label("login") }],
    ["no-host-access", CONTAINER, { ...worker, mounts: [{ type: "bind", source: "/sys/fs/cgroup", target: "/sys/fs/cgroup" }] }, { ...worker, mounts: [{ type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock" }] }],
    ["no-host-access", CONTAINER, { ...worker, cgroupnsMode: "host" }, { ...worker, labels: label("controller"), cgroupnsMode: "host" }],
    // A v1 worker's own parent cgroup (named for the container, and its cgroup parent) is its to bind; nothing else of the host.
    [
      "no-host-access", CONTAINER,
      { ...worker, name: "slurm-x-worker1", cgroupParent: "/slurm-x-worker1", volumes: [{ hostPath: "/sys/fs/cgroup/memory/slurm-x-worker1", containerPath: "/sys/fs/cgroup/memory" }] },
      { ...worker, name: "slurm-x-worker1", cgroupParent: "/slurm-x-worker1", volumes: [{ hostPath: "/sys/fs/cgroup/memory/slurm-x-worker2", containerPath: "/sys/fs/cgroup/memory" }] },
    ],
    ["no-host-access", CONTAINER, { ...worker, volumes: [{ volumeName: "v", containerPath: "/data" }] }, { ...worker, volumes: [{ hostPath: "/etc", containerPath: "/host-etc" }] }],
    ["host-cgroup-write", CONTAINER, { ...worker, cgroupnsMode: "private", securityOpts: ["writable-cgroups=true"] }, { ...worker, mounts: [{ type: "bind", source: "/sys/fs/cgroup", target: "/sys/fs/cgroup", readOnly: false }] }],
    ["host-cgroup-write", CONTAINER, { ...worker, cgroupnsMode: "private" }, { ...worker, cgroupnsMode: "host" }],
    ["host-cgroup-write", CONTAINER, { ...worker, capabilities: { drops: ["ALL"], adds: ["KILL"] } }, { ...worker, capabilities: { drops: ["ALL"], adds: ["SYS_ADMIN"] } }],
    ["host-cgroup-write", CONTAINER, { ...worker, securityOpts: ["no-new-privileges:true"] }, { ...worker, securityOpts: ["apparmor=unconfined"] }],
    ["no-host-access", CONTAINER, { ...worker, securityOpts: ["apparmor=unconfined"] }, { ...worker, labels: label("rest"), securityOpts: ["apparmor=unconfined"] }],
    ["no-seccomp-unconfined", CONTAINER, { ...worker, securityOpts: ["apparmor=unconfined"] }, { ...worker, securityOpts: ["seccomp=unconfined"] }],
    ["no-public-ports", CONTAINER, { ...worker, labels: label("rest"), ports: [{ internal: 9090, external: 9090, ip: "127.0.0.1" }] }, { ...worker, labels: label("rest"), ports: [{ internal: 9090, external: 9090 }] }],
    ["no-public-ports", CONTAINER, { ...worker, labels: label("rest"), ports: [{ internal: 9090, external: 9090, ip: "127.0.0.1" }] }, { ...worker, labels: label("rest"), ports: [{ internal: 6817, external: 6817, ip: "127.0.0.1" }] }],
    // Several machines: a worker publishes its own slurmd port on a named address, nothing else.
    [
      "no-public-ports", CONTAINER,
      { ...worker, uploads: [{ file: "/etc/slurm/dynamic-node.conf", content: "CPUs=1 Port=6819" }], ports: [{ internal: 6819, external: 6819, ip: "192.0.2.20" }] },
      { ...worker, uploads: [{ file: "/etc/slurm/dynamic-node.conf", content: "CPUs=1 Port=6819" }], ports: [{ internal: 6817, external: 6817, ip: "192.0.2.20" }] },
    ],
    ["no-public-ports", CONTAINER, { ...worker, ports: [{ internal: 6818, external: 6818, ip: "192.0.2.20" }] }, { ...worker, ports: [{ internal: 6818, external: 6818 }] }],
    // A controller publishes slurmctld and srun's ports; accounting is never published.
    ["no-public-ports", CONTAINER, { ...worker, labels: label("controller"), ports: [{ internal: 60001, external: 60001, ip: "192.0.2.1" }] }, { ...worker, labels: label("controller"), ports: [{ internal: 6819, external: 6819, ip: "192.0.2.1" }] }],
    ["no-public-ports", CONTAINER, { ...worker, labels: label("slurmdbd") }, { ...worker, labels: label("slurmdbd"), ports: [{ internal: 6819, external: 6819, ip: "127.0.0.1" }] }],
    // The login node publishes sshd (as loginPort) and nothing else; no other container publishes SSH.
    ["no-public-ports", CONTAINER, { ...worker, labels: label("login"), ports: [{ internal: 22, external: 2222, ip: "127.0.0.1" }] }, { ...worker, labels: label("login"), ports: [{ internal: 9090, external: 9090, ip: "127.0.0.1" }] }],
    ["no-public-ports", CONTAINER, { ...worker, labels: label("login"), ports: [{ internal: 22, external: 2222, ip: "127.0.0.1" }] }, { ...worker, labels: label("rest"), ports: [{ internal: 22, external: 2223, ip: "127.0.0.1" }] }],
    ["no-public-ports", CONTAINER, { ...worker, labels: label("login"), ports: [{ internal: 22, external: 2222, ip: "127.0.0.1" }] }, { ...worker, labels: label("login"), ports: [{ internal: 22, external: 2222 }] }],
    [
      "secrets-out-of-sight", CONTAINER,
      { ...worker, labels: label("login"), uploads: [{ file: "/etc/ssh/ssh_host_ed25519_key", content: HOST_KEY }] },
      { ...worker, labels: label("login"), uploads: [{ file: "/etc/ssh/ssh_host_ed25519_key", content: HOST_KEY }], envs: [`KEY=${HOST_KEY.split("\n")[1]}`] },
    ],
    [
      "secrets-out-of-sight", CONTAINER,
      { ...worker, uploads: [{ file: "/etc/slurm-cluster/database-password", content: "S3cretPassw0rd" }], envs: ["A=1"] },
      { ...worker, uploads: [{ file: "/etc/slurm-cluster/database-password", content: "S3cretPassw0rd" }], envs: ["DB=S3cretPassw0rd"] },
    ],
    ["secrets-out-of-sight", CONTAINER, { ...worker, envs: ["GF_SECURITY_ADMIN_PASSWORD__FILE=/etc/x"] }, { ...worker, envs: ["MYSQL_PASSWORD=hunter22"] }],
    ["pinned-images", "docker:index/image:Image", { imageName: "slurm-cluster/slurm:abc123", build: { args: { BASE_IMAGE: "debian:trixie-slim" } } }, { imageName: "slurm-cluster/slurm:abc123", build: { args: { BASE_IMAGE: "debian:latest" } } }],
    ["pinned-images", "docker:index/remoteImage:RemoteImage", { name: "grafana/grafana:11.6.0" }, { name: "grafana/grafana" }],
    ["memory-limits", CONTAINER, worker, { ...worker, memory: undefined }],
    ["healthcheck-and-restart", CONTAINER, worker, { ...worker, restart: "no" }],
  ];
  it("host-cgroup-write: a worker with every host cgroup grant is one violation naming them and the key; allowHostCgroupWrite waives it", () => {
    const hostWrite = {
      ...worker,
      cgroupnsMode: "host",
      mounts: [{ type: "bind", source: "/sys/fs/cgroup", target: "/sys/fs/cgroup", readOnly: false }],
      capabilities: { drops: ["ALL"], adds: ["SYS_ADMIN"] },
      securityOpts: ["apparmor=unconfined"],
    };
    expect(resourceViolations("host-cgroup-write", CONTAINER, hostWrite)).toEqual([
      "w gets the host's /sys/fs/cgroup read-write, the host cgroup namespace, CAP_SYS_ADMIN, apparmor=unconfined: it could write the host's cgroups; set slurm-cluster:allowHostCgroupWrite=true only if you accept that",
    ]);
    expect(resourceViolations("host-cgroup-write", CONTAINER, hostWrite, { allowHostCgroupWrite: true })).toEqual([]);
  });

  it.each(ROWS)("%s: passes a compliant %s and reports a violating one", (name, type, good, bad, config = {}) => {
    expect(resourceViolations(name, type, good, config)).toEqual([]);
    expect(resourceViolations(name, type, bad, config)).toHaveLength(1);
  });

  it("cluster-shape: one controller, a worker, and no host port published twice", () => {
    const policy = policies.find((p) => p.name === "cluster-shape") as StackValidationPolicy;
    const container = (role: string, ports: { external: number }[] = []) =>
      ({ type: CONTAINER, props: { name: role, labels: label(role), ports } }) as unknown as PolicyResource;
    const check = (resources: PolicyResource[]) => {
      const found: string[] = [];
      policy.validateStack({ resources, getConfig: () => ({}) } as never, (m) => found.push(m));
      return found;
    };
    expect(check([container("controller"), container("login"), container("worker"), container("prometheus", [{ external: 9090 }])])).toEqual([]);
    expect(check([container("controller"), container("worker")])).toEqual(["the stack has 0 login nodes; a cluster stack has exactly one (its users' way in)"]);
    expect(check([container("worker")])).toEqual([]); // a workers stack
    expect(check([container("worker"), container("node-exporter")])).toEqual([]);
    expect(check([container("slurmdbd"), container("worker")])).toEqual(["the stack has 0 controllers; it must have exactly one (or, as a workers stack, only workers)"]);
    expect(check([container("controller"), container("controller"), container("login"), container("worker")])).toHaveLength(1);
    expect(check([container("controller"), container("login")])).toEqual(["the stack has no worker"]);
    expect(check([container("controller"), container("login"), container("worker", [{ external: 9090 }]), container("prometheus", [{ external: 9090 }])])).toHaveLength(2);
  });
});

describe("networks-by-role", () => {
  const policy = policies.find((p) => p.name === "networks-by-role") as StackValidationPolicy;
  const network = (name: string, role: string) => ({ type: "docker:index/network:Network", props: { name, labels: label(role) } }) as unknown as PolicyResource;
  const container = (role: string, ...networks: string[]) =>
    ({ type: CONTAINER, props: { name: role, labels: label(role), networksAdvanced: networks.map((name) => ({ name, aliases: [role] })) } }) as unknown as PolicyResource;
  const nets = [network("c", "network"), network("a", "accounting-network"), network("m", "monitoring-network")];
  const check = (...resources: PolicyResource[]) => {
    const found: string[] = [];
    policy.validateStack({ resources: [...nets, ...resources], getConfig: () => ({}) } as never, (m) => found.push(m));
    return found;
  };

  it("passes the cluster's shape", () => {
    expect(check(container("database", "a"), container("slurmdbd", "c", "a"), container("worker", "c"), container("slurm-exporter", "c", "m"), container("prometheus", "m"))).toEqual([]);
    expect(policy.enforcementLevel).toBe("mandatory");
  });

  it("fails a database on any other network, or on none", () => {
    expect(check(container("database", "a", "c"))).toEqual(["database (the accounting database) must be on the accounting network only, but is on accounting-network, network"]);
    expect(check(container("database", "c"))).toHaveLength(1);
    expect(check(container("database", "x"))).toEqual(["database (the accounting database) must be on the accounting network only, but is on undeclared network x"]);
    expect(check(container("database"))).toHaveLength(1);
  });

  it("fails a worker on the accounting or monitoring network, and anything but slurmdbd on the accounting network", () => {
    expect(check(container("worker", "c", "m"))).toEqual(["worker (a worker, where users' jobs run) is on the monitoring-network"]);
    expect(check(container("worker", "c", "a"))).toHaveLength(1);
    expect(check(container("controller", "c", "a"))).toEqual(["controller (controller) is on the accounting network, which only the database and slurmdbd may be on"]);
  });

  it("does not judge names a preview does not know yet", () => {
    expect(check(container("database", { __pulumiUnknown: true } as unknown as string))).toEqual([]);
  });
});

describe("the offline runner", () => {
  let engine: Awaited<ReturnType<typeof startFakeEngine>>;
  beforeAll(async () => (engine = await startFakeEngine(DEFAULT_FACTS)));
  afterAll(() => engine.close());
  const check = (stack: string, overrides: string[] = []) => checkPolicies(stack, [`docker:host=${engine.host}`, "allowInsecureDockerHost=true", ...overrides]);
  const mandatory = (v: Violation[]) => v.filter((x) => x.level === "mandatory");

  it.each(["ubuntu", "macos", "qnap"])("finds no mandatory violation in stack %s as committed", async (stack) => {
    const { violations, resources } = await check(stack);
    // ubuntu is a whole cluster; macos and qnap are workers stacks (provider, network, volume, image, 2 workers and checks).
    expect(resources).toBeGreaterThan(stack === "ubuntu" ? 20 : 6);
    expect(mandatory(violations)).toEqual([]);
  });

  it("checks the arm64 qnap stack as a preview does, whatever base image this engine holds (it builds nothing)", async () => {
    const amd64Base = await startFakeEngine({ ...DEFAULT_FACTS, images: { "debian:trixie-slim": "linux/amd64" } });
    try {
      const { violations } = await checkPolicies("qnap", [`docker:host=${amd64Base.host}`, "allowInsecureDockerHost=true"]);
      expect(mandatory(violations)).toEqual([]);
    } finally {
      await amd64Base.close();
    }
  });

  it("fails monitoring published on every address, naming the policy and the resource", async () => {
    const { violations } = await check("ubuntu", ["monitoringBindAddress=0.0.0.0"]);
    expect(mandatory(violations).map((v) => [v.policy, v.urn.split("::").pop()])).toEqual(
      expect.arrayContaining([["no-public-ports", "monitoring-prometheus"], ["no-public-ports", "monitoring-slurm-exporter"]]),
    );
  });

  it("finds the database and workers where networks-by-role wants them in the ubuntu stack (grafana on)", async () => {
    const { violations } = await check("ubuntu", ["grafana=true"]);
    expect(violations.filter((v) => v.policy === "networks-by-role")).toEqual([]);
  });

  it("reports privileged cgroup workers the stack allowed as advisory only", async () => {
    const { violations } = await check("ubuntu", ["cgroupMode=cgroup", "hostCgroupVersion=1", "allowPrivileged=true"]);
    expect(mandatory(violations)).toEqual([]);
    expect(violations.filter((v) => v.policy === "privileged-by-choice").map((v) => v.urn.split("::").pop())).toEqual(["worker1-slurmd", "worker2-slurmd"]);
  });

  it("passes cgroup mode on this v1 host with no waiver: workers bind only their own parent cgroups", async () => {
    const { violations } = await check("ubuntu", ["cgroupMode=cgroup", "hostCgroupVersion=1"]);
    expect(mandatory(violations)).toEqual([]);
  });

  it("passes systemd mode on a v1 host only as the stack's waiver: allowHostCgroupWrite=true is also the pack's", async () => {
    const { violations } = await check("ubuntu", ["cgroupMode=systemd", "hostCgroupVersion=1", "allowHostCgroupWrite=true"]);
    expect(mandatory(violations)).toEqual([]);
  });

  it("exits non-zero on a mandatory violation and zero otherwise, printing like pulumi preview", async () => {
    // Not spawnSync: the stand-in engine answers from this process, which must keep running.
    const run = (args: string[]) =>
      new Promise<{ status: number | null; stdout: string }>((resolve) => {
        const child = spawn("npm", ["run", "-s", "policy", "--", "ubuntu", "-c", `docker:host=${engine.host}`, "-c", "allowInsecureDockerHost=true", ...args], { cwd: PROJECT_ROOT });
        let stdout = "";
        child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
        child.on("close", (status) => resolve({ status, stdout }));
      });
    const bad = await run(["-c", "monitoringBindAddress=0.0.0.0"]);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/- \[mandatory\]  no-public-ports  \(docker:index\/container:Container: monitoring-prometheus\)/);
    const good = await run([]);
    expect(good.status).toBe(0);
    expect(good.stdout).toMatch(/resources checked for stack ubuntu: 0 mandatory/);
  }, 60_000);
});

describe("the pull-request workflow", () => {
  const file = path.join(PROJECT_ROOT, ".github", "workflows", "pull-request.yml");
  const wf = yaml.load(fs.readFileSync(file, "utf8")) as {
    on: Record<string, unknown>;
    jobs: Record<string, { "runs-on": string; steps: { run?: string; uses?: string }[]; strategy?: { matrix: { stack: string[] } } }>;
  };

  it("runs on pull requests, with jobs GitHub can run", () => {
    expect(Object.keys(wf.on)).toContain("pull_request");
    for (const job of Object.values(wf.jobs)) {
      expect(job["runs-on"]).toBeTruthy();
      for (const step of job.steps) expect(Boolean(step.run) !== Boolean(step.uses)).toBe(true);
    }
  });

  it("runs the unit tests, the offline policy check and pulumi preview with the pack, for every stack", () => {
    const job = wf.jobs.policy;
    expect(job.strategy?.matrix.stack.sort()).toEqual(["macos", "qnap", "ubuntu"]);
    const runs = job.steps.map((s) => s.run ?? "").join("\n");
    expect(runs).toContain("npm run test:unit");
    expect(runs).toContain("npm run policy -- ${{ matrix.stack }}");
    expect(runs).toMatch(/pulumi preview --stack \$\{\{ matrix.stack \}\} --policy-pack policy/);
    expect(runs).toContain("pulumi login --local");
  });
});

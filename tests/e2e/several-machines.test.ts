// One cluster across machines, on this one: the ubuntu stack (controller, accounting, workers)
// on this machine's engine; the qnap stack (arm64 workers, under emulation) and the macos stack
// (amd64 workers) each on a second Docker host that scripts/second-host.sh starts in its own
// network namespace, reached only through a routed link. The stacks reach those engines as
// remote machines': macos over ssh:// (an sshd in its namespace, `docker system dial-stdio`
// there), qnap over TCP with TLS (its dockerd with --tlsverify); the runner is given what a user
// would have: a HOME whose .ssh holds the key and the host's known_hosts line, or DOCKER_TLS_VERIFY
// and DOCKER_CERT_PATH. The test looks at those engines through their sockets. The workers stacks
// read the ubuntu stack's outputs through a StackReference (the runner answers it from its saved
// outputs).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EnvChanges, PROJECT_ROOT, dockerExec, eventually, heldJob, npmRun, npmRunFull, waitForJobEnd } from "./helpers";

jest.setTimeout(20 * 60 * 1000);

interface Node {
  name: string;
  state: string;
}

/** Runs a project script; returns what it printed on stdout (its log goes to stderr). */
function script(args: string[], env: Record<string, string> = {}): string {
  return execFileSync("bash", args, { cwd: PROJECT_ROOT, encoding: "utf8", env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] }).trim();
}

/** docker against another engine. */
function dockerOn(host: string, args: string[]): string {
  return execFileSync("docker", ["-H", host, ...args], { encoding: "utf8" }).trim();
}

interface SecondHost {
  /** The docker:host its stacks use: ssh://root@10.77.0.n or tcp://10.77.0.n:2376. */
  host: string;
  /** The environment the runner needs to reach it that way (`second-host.sh client`; empty: unset). */
  env: EnvChanges;
  /** Its socket, where the test looks at it. */
  socket: string;
  /** Its own address on the link, and this machine's. */
  address: string;
  thisMachine: string;
}

/** A second host, reached over SSH or TLS. */
function secondHost(name: string, access: "--ssh" | "--tls"): SecondHost {
  const host = script(["scripts/second-host.sh", "up", name, access]);
  const env: EnvChanges = {};
  for (const line of script(["scripts/second-host.sh", "client", name]).split("\n")) {
    const at = line.indexOf("=");
    env[line.slice(0, at)] = line.slice(at + 1) || undefined;
  }
  const socket = script(["scripts/second-host.sh", "socket", name]);
  const [address, thisMachine] = script(["scripts/second-host.sh", "address", name]).split(" ");
  return { host, env, socket, address, thisMachine };
}

/** The runner on a second host's stack: `docker:host` and the environment to reach it. */
const on = (h: SecondHost, command: string, stack: string, args: string[]) => npmRunFull(command, [stack, ...args, "-c", `docker:host=${h.host}`], h.env);

/** Everything on an engine that a run could create: containers, networks, volumes, images. */
function engineObjects(socket: string): string {
  // Each listing sorted: docker lists images by creation time, and two made in the same second
  // come in either order (seen on a fresh CI run: the same two images, swapped).
  const sorted = (text: string) => text.split("\n").sort().join("\n");
  return [
    sorted(dockerOn(socket, ["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}"])),
    sorted(dockerOn(socket, ["network", "ls", "--no-trunc", "--format", "{{.ID}} {{.Name}}"])),
    sorted(dockerOn(socket, ["volume", "ls", "--format", "{{.Name}}"])),
    sorted(dockerOn(socket, ["image", "ls", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"])),
  ].join("\n");
}

/** The stderr of a runner command that must fail. */
function failing(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("the command succeeded");
}

const CTL = "slurm-ubuntu-controller";
// The Ubuntu host's GPUs: there is no GPU here, so character devices with NVIDIA's major number
// (195) stand in for them, one per worker; Slurm's side (GRES) is what is proven.
const FAKE_GPUS = "/tmp/slurm-cluster-fake-gpus";
const GPU_FILES = [0, 1].map((k) => `${FAKE_GPUS}/nvidia${k}`);
let qnap: SecondHost;
let mac: SecondHost;
let ubuntuNodes: Node[];
let qnapNodes: Node[];
let macNodes: Node[];

beforeAll(() => {
  qnap = secondHost("qnap", "--tls");
  mac = secondHost("mac", "--ssh");
  // Base images on each engine: arm64 by debootstrap under emulation (kept in the host's
  // data-root for the next run), amd64 copied from this machine's engine.
  const started = Date.now();
  script(["scripts/base-image.sh"], { DOCKER_HOST: qnap.socket, PLATFORM: "linux/arm64" });
  script(["scripts/base-image.sh"], { DOCKER_HOST: mac.socket });
  process.stderr.write(`[several-machines] base images ready in ${((Date.now() - started) / 1000).toFixed(0)}s\n`);

  for (const [stack, host] of [["macos", mac], ["qnap", qnap]] as const) on(host, "local:down", stack, ["--volumes"]);
  npmRun("local:down", ["ubuntu", "--volumes"]);
  // The controller is published on this machine's address on the qnap link; the mac host reaches it
  // through this machine too (its only route).
  execFileSync("mkdir", ["-p", FAKE_GPUS]);
  GPU_FILES.forEach((file, k) => execFileSync("bash", ["-c", `[ -c ${file} ] || mknod ${file} c 195 ${k}`]));
  ubuntuNodes = JSON.parse(
    npmRun("local:up", ["ubuntu", "-c", `advertiseAddress=${qnap.thisMachine}`, "-c", "grafana=false", "-c", "gpusPerWorker=1", "-c", `gpuDevices=${GPU_FILES.join(",")}`]),
  ).nodes;
  // The workers run only shell jobs here: no job runtimes, so the arm64 image under emulation is
  // the daemons' image alone.
  const timed = (stack: string, host: SecondHost) => {
    const t = Date.now();
    const out = JSON.parse(on(host, "local:up", stack, ["-c", `advertiseAddress=${host.address}`, "-c", "jobRuntimes=false"]).stdout);
    process.stderr.write(`[several-machines] ${stack} up in ${((Date.now() - t) / 1000).toFixed(0)}s\n`);
    return out.nodes as Node[];
  };
  qnapNodes = timed("qnap", qnap);
  macNodes = timed("macos", mac);
});

afterAll(() => {
  for (const [stack, host] of [["macos", mac], ["qnap", qnap]] as const) {
    if (host) on(host, "local:down", stack, ["--volumes"]);
  }
  npmRun("local:down", ["ubuntu", "--volumes"]);
  for (const name of ["qnap", "mac"]) script(["scripts/second-host.sh", "down", name]);
});

test("every node of the three stacks is IDLE, and slurmctld sees six nodes", () => {
  expect([...ubuntuNodes, ...qnapNodes, ...macNodes].map((n) => `${n.name}:${n.state}`)).toEqual([
    "worker1:IDLE", "worker2:IDLE", "qnap1:IDLE", "qnap2:IDLE", "mac1:IDLE", "mac2:IDLE",
  ]);
  const sinfo = dockerExec(CTL, ["sinfo", "-N", "-h", "-p", "main", "-o", "%N %T"]).trim().split("\n").sort();
  expect(sinfo).toEqual(["mac1 idle", "mac2 idle", "qnap1 idle", "qnap2 idle", "worker1 idle", "worker2 idle"]);
});

test("the workers' containers run on their own engines, arm64 on the qnap host", () => {
  expect(dockerOn(qnap.socket, ["ps", "--format", "{{.Names}}"]).split("\n").sort()).toEqual(["slurm-qnap-node-exporter", "slurm-qnap-qnap1", "slurm-qnap-qnap2"]);
  expect(dockerOn(qnap.socket, ["exec", "slurm-qnap-qnap1", "uname", "-m"])).toBe("aarch64");
  expect(dockerOn(mac.socket, ["ps", "--format", "{{.Names}}"]).split("\n").sort()).toEqual(["slurm-macos-mac1", "slurm-macos-mac2", "slurm-macos-node-exporter"]);
  // slurmd is published on the second host's link address only.
  expect(dockerOn(qnap.socket, ["port", "slurm-qnap-qnap2"])).toBe(`6819/tcp -> ${qnap.address}:6819`);
});

test("the stacks reached the Mac's engine over ssh:// and the QNAP's over TLS", () => {
  expect(mac.host).toMatch(new RegExp(`^ssh://[a-z_][a-z0-9_-]*@${mac.address.replace(/\./g, "\\.")}$`));
  expect(mac.env).toEqual({ HOME: expect.any(String), SSH_AUTH_SOCK: undefined });
  expect(qnap.host).toBe(`tcp://${qnap.address}:2376`);
  expect(qnap.env).toEqual({ DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: expect.any(String) });
});

test("an ssh:// engine whose host key is not in known_hosts: one line saying so, and nothing is created there", () => {
  // The key the Mac's sshd takes, in a HOME whose known_hosts does not list the Mac's host key.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "several-machines-home-"));
  try {
    fs.mkdirSync(path.join(home, ".ssh"), { mode: 0o700 });
    fs.copyFileSync(path.join(String(mac.env.HOME), ".ssh", "id_ed25519"), path.join(home, ".ssh", "id_ed25519"));
    fs.writeFileSync(path.join(home, ".ssh", "known_hosts"), "");
    const before = engineObjects(mac.socket);
    const started = Date.now();
    const failure = failing(() =>
      npmRunFull("local:up", ["macos", "-c", `docker:host=${mac.host}`, "-c", `advertiseAddress=${mac.address}`, "-c", "jobRuntimes=false"], { ...mac.env, HOME: home }),
    );
    const login = mac.host.slice("ssh://".length);
    expect(failure.trim().split("\n").pop()).toBe(`error: the SSH host key of ${mac.address} is not in ~/.ssh/known_hosts; run \`ssh ${login}\` once to check and accept it`);
    expect(failure).not.toMatch(/^\s+at /m);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(engineObjects(mac.socket)).toBe(before);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test("a plain tcp:// engine is refused without allowInsecureDockerHost, before anything is asked of it", () => {
  // Nothing listens on 2375: the refusal comes before any connection (one would fail otherwise).
  const address = `tcp://${qnap.address}:2375`;
  const before = engineObjects(qnap.socket);
  const failure = failing(() =>
    npmRunFull("local:up", ["qnap", "-c", `docker:host=${address}`, "-c", `advertiseAddress=${qnap.address}`, "-c", "jobRuntimes=false"], {
      DOCKER_TLS_VERIFY: undefined,
      DOCKER_CERT_PATH: undefined,
    }),
  );
  expect(failure.trim().split("\n").pop()).toBe(
    `error: docker:host = "${address}" is the Docker API over unencrypted, unauthenticated TCP, and the Docker API is root on that machine: ` +
      `use ssh://user@${qnap.address}, or TLS (DOCKER_TLS_VERIFY=1 with ca.pem, cert.pem and key.pem in DOCKER_CERT_PATH), ` +
      `or set slurm-cluster:allowInsecureDockerHost=true to accept it`,
  );
  expect(engineObjects(qnap.socket)).toBe(before);
});

let armJob: string;
let spanJob: string;

test("a batch job sent to qnap1 runs on the ARM node, and slurmctld knows its architecture", async () => {
  armJob = dockerExec(CTL, ["sbatch", "--parsable", "-w", "qnap1", "-o", "/tmp/arm-%j.out", "--wrap", "uname -m > /tmp/arch-$SLURM_JOB_ID"]).trim();
  expect(await waitForJobEnd(CTL, armJob, 120)).toBe("COMPLETED");
  // Job files stay on the host that ran the job (no NFS export here): read it there.
  expect(dockerOn(qnap.socket, ["exec", "slurm-qnap-qnap1", "cat", `/tmp/arch-${armJob}`])).toBe("aarch64");
  expect(dockerExec(CTL, ["scontrol", "show", "node", "qnap1"])).toMatch(/Arch=aarch64/);
  expect(dockerExec(CTL, ["scontrol", "show", "node", "qnap1"])).toMatch(new RegExp(`NodeAddr=${qnap.address.replace(/\./g, "\\.")} `));
});

test("srun -N3 from the controller spans the three hosts", () => {
  const out = dockerExec(CTL, ["srun", "-N3", "-w", "worker1,qnap1,mac1", "-J", "span", "bash", "-c", "echo $(hostname) $(uname -m)"]);
  expect(out.trim().split("\n").sort()).toEqual(["mac1 x86_64", "qnap1 aarch64", "worker1 x86_64"]);
  spanJob = dockerExec(CTL, ["sacct", "-X", "-n", "-P", "--name", "span", "-o", "JobID"]).trim().split("\n").pop()!;
});

test("both jobs are in accounting, COMPLETED, with their nodes", async () => {
  const line = (id: string) => dockerExec(CTL, ["sacct", "-X", "-n", "-P", "-j", id, "-o", "JobID,State,NodeList"]).trim();
  expect(line(armJob)).toBe(`${armJob}|COMPLETED|qnap1`);
  const span = await eventually("span job recorded", 30, () => (line(spanJob).includes("COMPLETED") ? line(spanJob) : undefined));
  const [id, state, nodes] = span.split("|");
  // Dynamic nodes are listed in the order they registered.
  expect([id, state, nodes.split(",").sort()]).toEqual([spanJob, "COMPLETED", ["mac1", "qnap1", "worker1"]]);
});

test("each machine has its partition, with its features; the default one has every node", () => {
  expect(dockerExec(CTL, ["sinfo", "-h", "-N", "-p", "qnap", "-o", "%N"]).trim().split("\n").sort()).toEqual(["qnap1", "qnap2"]);
  expect(dockerExec(CTL, ["sinfo", "-h", "-N", "-p", "macos", "-o", "%N %f"]).trim().split("\n").sort()).toEqual(["mac1 macos,amd64", "mac2 macos,amd64"]);
  expect(dockerExec(CTL, ["sinfo", "-h", "-N", "-p", "ubuntu", "-o", "%N"]).trim().split("\n").sort()).toEqual(["worker1", "worker2"]);
  const onArm = dockerExec(CTL, ["sbatch", "--parsable", "-C", "arm64", "-o", "/dev/null", "--wrap", "true"]).trim();
  return waitForJobEnd(CTL, onArm, 120).then((state) => {
    expect(state).toBe("COMPLETED");
    expect(dockerExec(CTL, ["sacct", "-X", "-n", "-P", "-j", onArm, "-o", "NodeList"]).trim()).toMatch(/^qnap[12]$/);
  });
});

test("a second workers stack with the same node names is refused before anything is created", () => {
  const res = (() => {
    try {
      on(mac, "local:up", "macos", ["-c", `advertiseAddress=${mac.address}`, "-c", "nodePrefix=worker", "-c", "jobRuntimes=false"]);
      return "";
    } catch (err) {
      return (err as Error).message;
    }
  })();
  expect(res).toMatch(/slurm-cluster:controllerStack = "ubuntu": its cluster already has node\(s\) worker1, worker2/);
  expect(dockerOn(mac.socket, ["ps", "--format", "{{.Names}}"]).split("\n").sort()).toEqual(["slurm-macos-mac1", "slurm-macos-mac2", "slurm-macos-node-exporter"]);
});

test("a workers stack whose node names another machine's nodes hold fails, quoting its workers' refusal", () => {
  // The Mac's own workers go first: new ones are created before old ones are deleted, and they
  // would clash on the published slurmd ports.
  on(mac, "local:down", "macos", []);
  let failure = "";
  try {
    on(mac, "local:up", "macos", ["-c", `advertiseAddress=${mac.address}`, "-c", "nodePrefix=qnap", "-c", "registrationTimeoutSeconds=60", "-c", "jobRuntimes=false"]);
  } catch (err) {
    failure = (err as Error).message;
  }
  expect(failure).toMatch(/Slurm node qnap1 cannot register: the container slurm-macos-qnap1 keeps stopping/);
  expect(failure).toMatch(new RegExp(`FATAL: node name qnap1 is already in the cluster, registered from ${qnap.address.replace(/\./g, "\\.")}`));
  // The QNAP's nodes kept their address and state.
  expect(dockerExec(CTL, ["scontrol", "show", "node", "qnap1"])).toMatch(new RegExp(`NodeAddr=${qnap.address.replace(/\./g, "\\.")} `));
  expect(dockerExec(CTL, ["sinfo", "-h", "-N", "-p", "qnap", "-o", "%N %t"]).trim().split("\n").sort()).toEqual(["qnap1 idle", "qnap2 idle"]);
  // Put the Mac's stack back: a clean slate (its new containers are in a restart loop), then up.
  on(mac, "local:down", "macos", ["--volumes"]);
  macNodes = JSON.parse(on(mac, "local:up", "macos", ["-c", `advertiseAddress=${mac.address}`, "-c", "jobRuntimes=false"]).stdout).nodes;
  expect(macNodes.map((n) => `${n.name}:${n.state}`)).toEqual(["mac1:IDLE", "mac2:IDLE"]);
});

test("the controller's Prometheus finds and scrapes each other machine's node exporter through Slurm", async () => {
  interface Target { labels: Record<string, string>; health: string; scrapeUrl: string }
  const machines = await eventually("both machines scraped", 90, async () => {
    const res = await fetch("http://127.0.0.1:9090/api/v1/targets?state=active");
    const targets = ((await res.json()) as { data: { activeTargets: Target[] } }).data.activeTargets.filter((t) => t.labels.job === "machines");
    return targets.length === 2 && targets.every((t) => t.health === "up") ? targets : undefined;
  });
  expect(machines.map((t) => [t.labels.machine, t.labels.slurm_nodes, t.scrapeUrl]).sort()).toEqual([
    ["macos", "mac1,mac2", `http://${mac.address}:9100/metrics`],
    ["qnap", "qnap1,qnap2", `http://${qnap.address}:9100/metrics`],
  ]);
});

test("tearing down qnap removes its nodes from the cluster and leaves ubuntu's nodes and jobs alone", async () => {
  const held = heldJob(CTL, ["-w", "worker1"]);
  const running = held.id;
  try {
    await eventually("job running", 30, () => (dockerExec(CTL, ["squeue", "-h", "-j", running, "-o", "%T"]).trim() === "RUNNING" ? true : undefined));
    const { stderr } = on(qnap, "local:down", "qnap", []);
    expect(stderr).toMatch(/delete\s+pulumi-nodejs:dynamic\/slurm-cluster:NodeRegistration qnap1-registration/);
    expect(dockerOn(qnap.socket, ["ps", "-a", "--format", "{{.Names}}"])).toBe("");
    // and the Slurm exporter no longer offers its node exporter to Prometheus
    const sd = (await (await fetch("http://127.0.0.1:9341/sd/node-exporters")).json()) as { labels: { machine: string } }[];
    expect(sd.map((g) => g.labels.machine)).toEqual(["macos"]);
    const nodes = dockerExec(CTL, ["sinfo", "-h", "-N", "-o", "%N"]).trim().split("\n");
    expect(nodes.filter((n) => n.startsWith("qnap"))).toEqual([]);
    expect(dockerExec(CTL, ["squeue", "-h", "-j", running, "-o", "%T %N"]).trim()).toBe("RUNNING worker1");
  } finally {
    held.release(); // a failed assertion must not leave worker1 busy for the tests after it
  }
  expect(await waitForJobEnd(CTL, running, 60)).toBe("COMPLETED");
  expect(dockerExec(CTL, ["sinfo", "-h", "-N", "-p", "ubuntu", "-o", "%N %T"]).trim().split("\n").sort()).toEqual(["worker1 idle", "worker2 idle"]);
});

test("GPUs: a --gres=gpu:1 job sees CUDA_VISIBLE_DEVICES=0 and its device; asking 9 is refused at submit", () => {
  expect(dockerExec(CTL, ["sinfo", "-h", "-N", "-p", "ubuntu", "-o", "%N %G %f"]).trim().split("\n").sort()).toEqual([
    "worker1 gpu:1 ubuntu,amd64,gpu",
    "worker2 gpu:1 ubuntu,amd64,gpu",
  ]);
  // worker2's GPU is the host's second device file, at the same name inside; opening it reaches
  // the device node (no driver here: ENXIO), not a missing file.
  const out = dockerExec(CTL, ["srun", "-w", "worker2", "--gres=gpu:1", "bash", "-c", "echo $CUDA_VISIBLE_DEVICES; cat /dev/nvidia1 2>&1 || true"]);
  expect(out.trim().split("\n")).toEqual(["0", "cat: /dev/nvidia1: No such device or address"]);
  let refused = "";
  try {
    dockerExec(CTL, ["sbatch", "--gres=gpu:9", "--wrap", "true"]);
  } catch (err) {
    refused = String((err as { stderr?: string }).stderr ?? err);
  }
  expect(refused).toMatch(/Requested node configuration is not available/);
  expect(dockerExec(CTL, ["squeue", "-h"]).trim()).toBe("");
});

test("taking the GPUs away replaces the ubuntu workers, and they register afresh (slurmctld remembered their GRES)", () => {
  const nodes: Node[] = JSON.parse(npmRun("local:up", ["ubuntu", "-c", `advertiseAddress=${qnap.thisMachine}`, "-c", "grafana=false"])).nodes;
  expect(nodes.map((n) => `${n.name}:${n.state}`)).toEqual(["worker1:IDLE", "worker2:IDLE"]);
  expect(dockerExec(CTL, ["sinfo", "-h", "-N", "-p", "ubuntu", "-o", "%N %G %f"]).trim().split("\n").sort()).toEqual([
    "worker1 (null) ubuntu,amd64",
    "worker2 (null) ubuntu,amd64",
  ]);
  // The macos workers were not touched: slurm.conf is the same with or without GPUs.
  expect(dockerExec(CTL, ["sinfo", "-h", "-N", "-p", "macos", "-o", "%N %T"]).trim().split("\n").sort()).toEqual(["mac1 idle", "mac2 idle"]);
});

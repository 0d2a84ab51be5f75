// End to end on real Docker and real Slurm: the ubuntu stack, brought up through the same
// `npm run local:up` a user runs, must register its nodes, run a 2-node job, record it in
// accounting (sacct and the database itself), live through what `pulumi up`, `preview`,
// `refresh` and `destroy` do to it (the local runner does what pulumi-docker does, no more),
// survive a new controller, and tear down clean. One cluster serves every test, in order.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as mysql from "mysql2/promise";
import { waitUntilUsable } from "../../components/node-registration";
import { stackDockerHost } from "../../cli/stacks";
import { ContainerExec } from "../../docker/container-exec";
import {
  NO_GRAFANA, PROJECT_ROOT, containerIds, docker, dockerEvents, dockerExec, eventually, followLog, heldJob, npmRun, npmRunFull, stackObjects, waitForJobEnd,
} from "./helpers";

const STACK = "ubuntu";
jest.setTimeout(15 * 60 * 1000);

interface Outputs {
  clusterName: string;
  network: string;
  networks: { cluster: string; accounting: string; monitoring: string | null };
  slurmVersion: string;
  controller: { containerName: string; address: string };
  nodes: { name: string; containerName: string; state: string; cpus: number; memoryMb: number }[];
  database: { host: string; address: string; port: number; name: string; user: string; password: string };
  sharedVolume: { name: string; mountPath: string };
  rest: { url: string; openapiVersion: string; tokenCommand: string };
}

let outputs: Outputs;
let firstJobId: string;

beforeAll(() => {
  npmRun("local:down", [STACK, "--volumes"]); // leftovers of an earlier run, if any
  outputs = JSON.parse(npmRun("local:up", [STACK, ...NO_GRAFANA, "--show-secrets"]));
});

afterAll(() => {
  // Leave nothing behind even when a test failed.
  npmRun("local:down", [STACK, "--volumes"]);
});

test("every node registered and is IDLE in the outputs", () => {
  expect(outputs.clusterName).toBe("ubuntu");
  expect(outputs.slurmVersion).toMatch(/^\d+\.\d+\.\d+$/);
  expect(outputs.nodes.map((n) => [n.name, n.state, n.cpus, n.memoryMb])).toEqual([
    ["worker1", "IDLE", 2, 1024],
    ["worker2", "IDLE", 2, 1024],
  ]);
  const sinfo = dockerExec(outputs.controller.containerName, ["sinfo", "-p", "main", "-h", "-N", "-o", "%N %t"]).trim().split("\n").sort();
  expect(sinfo).toEqual(["worker1 idle", "worker2 idle"]);
});

test("slurmctld starts without errors about its configuration (MailProg)", () => {
  const res = spawnSync("docker", ["logs", outputs.controller.containerName], { encoding: "utf8" });
  const log = res.stdout + res.stderr; // the daemons log to stderr
  expect(log).toMatch(/slurmctld version \d+\.\d+\.\d+ started/);
  expect(log).not.toMatch(/Configured MailProg is invalid/);
});

test("the controller sends work to each worker container's current address", () => {
  // slurmctld resolves names only when it starts; the registration check gives it the address
  // of the container it verified, so replaced workers (even two that swap addresses) get their jobs.
  for (const node of outputs.nodes) {
    const ip = docker(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", node.containerName]);
    const addr = dockerExec(outputs.controller.containerName, ["scontrol", "show", "node", node.name]).match(/NodeAddr=(\S+)/)?.[1];
    expect({ node: node.name, addr }).toEqual({ node: node.name, addr: ip });
  }
});

test("none mode: no cgroup plugin, and workers run with slurmd's capabilities only, unprivileged", () => {
  const config = dockerExec(outputs.controller.containerName, ["scontrol", "show", "config"]);
  expect(config).toMatch(/^ProctrackType\s+= proctrack\/linuxproc$/m);
  expect(config).toMatch(/^JobAcctGatherType\s+= jobacct_gather\/linux$/m);
  expect(dockerExec(outputs.nodes[0].containerName, ["cat", "/etc/slurm/cgroup.conf"])).toMatch(/^CgroupPlugin=disabled$/m);
  for (const node of outputs.nodes) {
    const inspect = JSON.parse(docker(["inspect", node.containerName]))[0];
    // The baseline: every default capability dropped, slurmd's own added back (README, Container baseline).
    expect(inspect.HostConfig.CapDrop).toEqual(["ALL"]);
    expect(inspect.HostConfig.CapAdd).toEqual(["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID"]);
    expect(inspect.HostConfig.SecurityOpt).toEqual(["no-new-privileges:true"]);
    expect(inspect.HostConfig.Privileged).toBe(false);
    expect(inspect.Mounts.map((m: { Destination: string }) => m.Destination)).toEqual(["/shared"]);
  }
});

test("a 2-node batch job, submitted as the default user as the templates say, writes both hostnames to the shared volume", async () => {
  const ctl = outputs.controller.containerName;
  const script = fs.readFileSync(path.join(PROJECT_ROOT, "job-templates", "hello-nodes.sbatch"), "utf8");
  firstJobId = execFileSync("docker", ["exec", "-i", "-u", "alice", "-w", "/shared/home/alice", ctl, "sbatch", "--parsable"], { input: script, encoding: "utf8" }).trim();
  expect(firstJobId).toMatch(/^\d+$/);
  const state = await waitForJobEnd(ctl, firstJobId, 120);
  expect(state).toBe("COMPLETED");
  expect(dockerExec(ctl, ["sacct", "-X", "-n", "-P", "-j", firstJobId, "-o", "User,Account"]).trim()).toBe("alice|research");
  // Written by the workers, read on another container: the volume is shared.
  const output = dockerExec(outputs.nodes[1].containerName, ["cat", `/shared/home/alice/hello-nodes-${firstJobId}.out`]);
  expect(output.trim().split("\n").sort()).toEqual(["worker1", "worker2"]);
});

test("finished jobs leave no zombie processes on the workers", async () => {
  const ctl = outputs.controller.containerName;
  const jobs = ["worker1", "worker2", "worker1"].map((w) => dockerExec(ctl, ["sbatch", "--parsable", "-w", w, "-o", "/dev/null", "--wrap", "true"]).trim());
  for (const job of jobs) expect(await waitForJobEnd(ctl, job, 60)).toBe("COMPLETED");
  for (const node of outputs.nodes) {
    // Each job's slurmstepd is orphaned when it ends; PID 1 (tini) must reap it.
    const zombies = dockerExec(node.containerName, ["ps", "-eo", "stat=,comm="]).split("\n").filter((l) => l.trim().startsWith("Z"));
    expect({ node: node.name, zombies }).toEqual({ node: node.name, zombies: [] });
  }
});

test("the accounting database holds the same job, read with mysql2", async () => {
  const db = outputs.database;
  expect(db.password).toMatch(/^[A-Za-z0-9]{32}$/);
  // As the operator CLI reaches it: through a byte pipe from inside the database container (the
  // accounting network is internal and holds only the database and slurmdbd; README "Networks").
  const pipe = await new ContainerExec(stackDockerHost(STACK)).pipeTo(`slurm-${STACK}-database`, db.host, db.port);
  const conn = await mysql.createConnection({ stream: pipe, user: db.user, password: db.password, database: db.name } as mysql.ConnectionOptions);
  try {
    const [rows] = await conn.query(
      `SELECT id_job, job_name, state, nodelist FROM \`${outputs.clusterName}_job_table\` WHERE id_job = ?`,
      [Number(firstJobId)],
    );
    // Slurm's job state enum: 3 is JOB_COMPLETE.
    // Dynamic nodes are listed in the order they registered: worker[1-2] or worker[2,1].
    expect(rows).toEqual([{ id_job: Number(firstJobId), job_name: "hello-nodes", state: 3, nodelist: expect.stringMatching(/^worker\[(1-2|1,2|2,1)\]$/) }]);
  } finally {
    await conn.end();
    pipe.destroy();
  }
});

test("a job on a worker reaches the controller but not the database, Alertmanager or Prometheus (networks by role)", async () => {
  // Each target from a job's own shell, as alice: bash's /dev/tcp, bounded by timeout. A name that
  // does not resolve, a refused connection and a timeout all count as unreachable.
  const targets = [["controller", 6817], ["database", 3306], ["alertmanager", 9093], ["prometheus", 9090]] as const;
  const probe = targets.map(([host, port]) => `if timeout 3 bash -c '</dev/tcp/${host}/${port}' 2>/dev/null; then echo "${host} open"; else echo "${host} closed"; fi`).join("; ");
  const ctl = outputs.controller.containerName;
  const out = `/shared/home/alice/reach-%j.out`;
  const jobId = execFileSync("docker", ["exec", "-u", "alice", "-w", "/shared/home/alice", ctl, "sbatch", "--parsable", "-w", "worker1", "-o", out, "--wrap", probe], { encoding: "utf8" }).trim();
  expect(await waitForJobEnd(ctl, jobId, 60)).toBe("COMPLETED");
  const seen = dockerExec(outputs.nodes[0].containerName, ["cat", out.replace("%j", jobId)]).trim().split("\n").sort();
  expect(seen).toEqual(["alertmanager closed", "controller open", "database closed", "prometheus closed"]);
  // And the networks are where the outputs say, by role.
  const nets = outputs.networks;
  const on = (container: string) => docker(["inspect", "-f", "{{range $n, $_ := .NetworkSettings.Networks}}{{$n}} {{end}}", container]).trim().split(" ").sort();
  expect(on(`slurm-${STACK}-database`)).toEqual([nets.accounting]);
  expect(on(`slurm-${STACK}-slurmdbd`)).toEqual([nets.accounting, outputs.network].sort());
  expect(on(`slurm-${STACK}-slurm-exporter`)).toEqual([outputs.network, nets.monitoring!].sort());
  expect(on(`slurm-${STACK}-prometheus`)).toEqual([nets.monitoring]);
  for (const node of outputs.nodes) expect(on(node.containerName)).toEqual([outputs.network]);
});

describe("the REST API (slurmrestd, JWT)", () => {
  const v = () => outputs.rest.openapiVersion;
  let token: string;
  const call = (method: string, path: string, opts: { token?: string; user?: string; body?: unknown } = {}) =>
    fetch(`${outputs.rest.url}${path}`, {
      method,
      headers: {
        ...(opts.token ? { "X-SLURM-USER-NAME": opts.user ?? "alice", "X-SLURM-USER-TOKEN": opts.token } : {}),
        ...(opts.body ? { "Content-Type": "application/json" } : {}),
      },
      body: opts.body ? JSON.stringify(opts.body) : undefined,
    });

  beforeAll(() => {
    // The output's command, as an operator runs it for a user (alice, the stack's first user):
    // it prints the token alone, so `export SLURM_JWT=$(...)` works.
    const [cmd, ...args] = outputs.rest.tokenCommand.replace("<user>", "alice").split(" ");
    expect(cmd).toBe("npx");
    const res = spawnSync(cmd, args, { cwd: PROJECT_ROOT, encoding: "utf8" });
    expect(res.status).toBe(0);
    token = res.stdout.trim();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  test("serves its OpenAPI document to a token holder, published on loopback only", async () => {
    expect(outputs.rest.url).toBe("http://127.0.0.1:6820");
    const doc = (await (await call("GET", "/openapi/v3", { token })).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining([`/slurm/${v()}/nodes/`, `/slurmdb/${v()}/job/{job_id}`]));
    expect(docker(["port", "slurm-ubuntu-rest"])).toBe("6820/tcp -> 127.0.0.1:6820");
  });

  test("refuses a request without a token (401), and one with a malformed token with Slurm's error", async () => {
    expect((await call("GET", `/slurm/${v()}/nodes`)).status).toBe(401);
    // slurmrestd passes the token on; slurmctld rejects it, and slurmrestd answers 511 with Slurm's error.
    const bad = await call("GET", `/slurm/${v()}/nodes`, { token: "not.a.token" });
    expect(bad.status).toBe(511);
    expect(((await bad.json()) as { errors: { error: string }[] }).errors.map((e) => e.error)).toContain("Protocol authentication error");
    const shortLived = dockerExec(outputs.controller.containerName, ["scontrol", "token", "username=alice", "lifespan=1"]).trim().replace(/^SLURM_JWT=/, "");
    // Wait until the token has expired by slurmctld's clock (the controller's: containers share the host's):
    // a second past its exp claim, expired whether slurmctld takes exp itself as still valid or not.
    const { exp } = JSON.parse(Buffer.from(shortLived.split(".")[1], "base64url").toString("utf8")) as { exp: number };
    await eventually("the short-lived token expired", 30, () =>
      Number(dockerExec(outputs.controller.containerName, ["date", "+%s"]).trim()) > exp ? true : undefined,
    );
    expect((await call("GET", `/slurm/${v()}/nodes`, { token: shortLived })).status).toBe(511); // expired
  });

  test("refuses a body that is not JSON, and submits nothing", async () => {
    const before = dockerExec(outputs.controller.containerName, ["squeue", "-h", "-o", "%i"]);
    const res = await fetch(`${outputs.rest.url}/slurm/${v()}/job/submit`, {
      method: "POST",
      headers: { "X-SLURM-USER-NAME": "alice", "X-SLURM-USER-TOKEN": token, "Content-Type": "text/plain" },
      body: "hello",
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toBe("Unable to parse query.");
    expect(dockerExec(outputs.controller.containerName, ["squeue", "-h", "-o", "%i"])).toBe(before);
  });

  test("lists the nodes with their states, and runs a job submitted through it to COMPLETED in accounting", async () => {
    const nodes = (await (await call("GET", `/slurm/${v()}/nodes`, { token })).json()) as { nodes: { name: string; state: string[] }[] };
    expect(nodes.nodes.map((n) => n.name).sort()).toEqual(["worker1", "worker2"]);
    for (const n of nodes.nodes) expect(n.state).toContain("IDLE");
    // As alice, with her own token: from her home (the only place on the shared volume she may write).
    const job = { name: "rest-hello", current_working_directory: "/shared/home/alice", environment: ["PATH=/usr/bin:/bin"], script: "#!/bin/bash\nhostname" };
    const submitted = await call("POST", `/slurm/${v()}/job/submit`, { token, body: { job } });
    expect(submitted.status).toBe(200);
    const { job_id: jobId } = (await submitted.json()) as { job_id: number };
    expect(await waitForJobEnd(outputs.controller.containerName, String(jobId), 60)).toBe("COMPLETED");
    const record = await eventually("the job in slurmdbd through REST", 30, async () => {
      const r = (await (await call("GET", `/slurmdb/${v()}/job/${jobId}`, { token })).json()) as { jobs: { name: string; state: { current: string[] } }[] };
      return r.jobs?.[0]?.state.current.includes("COMPLETED") ? r.jobs[0] : undefined;
    });
    expect(record.name).toBe("rest-hello");
  });

  test("gives Slurm's error for a job Slurm rejects, and submits nothing", async () => {
    const before = dockerExec(outputs.controller.containerName, ["squeue", "-h", "-o", "%i"]);
    const res = await call("POST", `/slurm/${v()}/job/submit`, { token, body: { job: { name: "bad", partition: "nosuch", current_working_directory: "/tmp", script: "#!/bin/bash\ntrue" } } });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(JSON.stringify(await res.json())).toMatch(/[Pp]artition/);
    expect(dockerExec(outputs.controller.containerName, ["squeue", "-h", "-o", "%i"])).toBe(before);
  });
});

test("a registration check that cannot succeed fails naming the node, its state and the slurmd log", async () => {
  await expect(
    waitUntilUsable({
      scontrolContainer: outputs.controller.containerName,
      workerContainer: outputs.nodes[0].containerName,
      workerContainerId: "",
      nodeName: "worker9",
      announced: { cpus: 2, memoryMb: 1024, features: ["ubuntu", "amd64"], gres: "" },
      timeoutSeconds: 3,
      dockerHost: "unix:///var/run/docker.sock",
      shrinkDrainSeconds: 0,
      shrinkKillsJobs: false,
    }),
  ).rejects.toThrow(/Slurm node worker9 did not become usable within 3s: state NOT_REGISTERED\.\nLast lines of the slurmd log \(slurm-ubuntu-worker1\):\n[\s\S]*slurmd/);
});

test("a second up changes nothing, and preview then reports no changes", () => {
  const before = containerIds(STACK);
  const again = npmRunFull("local:up", [STACK, ...NO_GRAFANA]);
  expect(containerIds(STACK)).toEqual(before);
  expect(Object.keys(before)).toHaveLength(11); // database, slurmdbd, controller, REST API, login, 2 workers, prometheus, alertmanager, 2 exporters
  expect(again.stderr).toMatch(/0 created, 0 updated, 0 replaced, 0 deleted, \d+ unchanged/);
  expect(JSON.parse(again.stdout).database.password).toBe("[secret]"); // secrets masked unless asked for
  const plan = npmRun("local:preview", [STACK, ...NO_GRAFANA]);
  expect(plan).toMatch(/^Resources: 0 to create, 0 to update, 0 to replace, 0 to delete, \d+ unchanged$/m);
  expect(containerIds(STACK)).toEqual(before);
});

test("preview lists what a config change would do, and does none of it", () => {
  const before = containerIds(STACK);
  const plan = npmRun("local:preview", [STACK, ...NO_GRAFANA, "-c", "workerCpus=1"]);
  // slurm.conf changes: every Slurm container gets the new file by replacement.
  expect(plan).toMatch(/\+-replace docker:index\/container:Container worker1-slurmd: uploads \(forces replacement\)/);
  expect(plan).toMatch(/\+-replace docker:index\/container:Container controller-slurmctld: uploads/);
  expect(plan).not.toMatch(/accounting-database/);
  expect(containerIds(STACK)).toEqual(before);
  expect(dockerExec(outputs.controller.containerName, ["sinfo", "-p", "main", "-h", "-N", "-o", "%N %c"]).trim().split("\n").sort()).toEqual(["worker1 2", "worker2 2"]);
});

test("changing the workers' memory headroom updates their containers in place and replaces nothing", async () => {
  const before = containerIds(STACK);
  const memory = (name: string) => Number(docker(["inspect", "-f", "{{.HostConfig.Memory}}", name])) / 2 ** 20;
  expect(memory("slurm-ubuntu-worker1")).toBe(1024 + 128);
  const changed = npmRunFull("local:up", [STACK, ...NO_GRAFANA, "-c", "workerMemoryHeadroomMb=256"]);
  expect(changed.stderr).toMatch(/~ update  docker:index\/container:Container worker1-slurmd: memory, memorySwap/);
  expect(changed.stderr).toMatch(/0 created, 2 updated, 0 replaced, 0 deleted/);
  expect(containerIds(STACK)).toEqual(before);
  expect([memory("slurm-ubuntu-worker1"), memory("slurm-ubuntu-worker2"), memory("slurm-ubuntu-controller")]).toEqual([1280, 1280, 1024]);
  // Slurm did not notice: the nodes stay usable and run work.
  const ctl = outputs.controller.containerName;
  const jobId = dockerExec(ctl, ["sbatch", "--parsable", "-N2", "-o", "/dev/null", "--wrap", "srun hostname"]).trim();
  expect(await waitForJobEnd(ctl, jobId, 60)).toBe("COMPLETED");
  npmRun("local:up", [STACK, ...NO_GRAFANA]); // back to the stack's own config
  expect(memory("slurm-ubuntu-worker1")).toBe(1024 + 128);
  expect(containerIds(STACK)).toEqual(before);
});

test("a worker stopped outside up stays stopped on a plain up, and up --refresh brings it back to IDLE", async () => {
  const ctl = outputs.controller.containerName;
  const worker = outputs.nodes[1].containerName;
  const id = docker(["inspect", "-f", "{{.Id}}", worker]);
  docker(["stop", worker]);
  const plain = npmRunFull("local:up", [STACK, ...NO_GRAFANA]);
  expect(docker(["inspect", "-f", "{{.State.Running}}", worker])).toBe("false");
  expect(plain.stderr).toContain(`warning: container ${worker} is stopped; up leaves changes made outside it alone`);
  expect(plain.stderr).toMatch(/0 created, 0 updated, 0 replaced, 0 deleted/);

  const refreshed = npmRunFull("local:up", [STACK, ...NO_GRAFANA, "--refresh"]);
  expect(refreshed.stderr).toContain("refresh: worker2-slurmd is stopped");
  expect(refreshed.stderr).toMatch(/~ update  docker:index\/container:Container worker2-slurmd: mustRun/);
  // Started again, not replaced: the provider's must_run starts the same container.
  expect(docker(["inspect", "-f", "{{.State.Running}} {{.Id}}", worker])).toBe(`true ${id}`);
  expect(JSON.parse(refreshed.stdout).nodes.map((n: { state: string }) => n.state)).toEqual(["IDLE", "IDLE"]);
  await eventually("worker2 idle in sinfo", 60, () =>
    dockerExec(ctl, ["sinfo", "-p", "main", "-h", "-n", "worker2", "-o", "%t"]).trim() === "idle" ? true : undefined,
  );
  const jobId = dockerExec(ctl, ["sbatch", "--parsable", "-w", "worker2", "-o", "/shared/back-%j.out", "--wrap", "hostname"]).trim();
  expect(await waitForJobEnd(ctl, jobId, 60)).toBe("COMPLETED");
  expect(dockerExec(ctl, ["cat", `/shared/back-${jobId}.out`]).trim()).toBe("worker2");
});

test("controller state survives a new controller container (StateSaveLocation on a volume)", async () => {
  const ctl = outputs.controller.containerName;
  const oldId = docker(["inspect", "-f", "{{.Id}}", ctl]);
  // A graceful stop, as a replaced container gets (a SIGKILLed slurmctld can lose its last
  // seconds of state: a job that ended then comes back as RUNNING and holds its node).
  docker(["stop", ctl]);
  docker(["rm", ctl]);
  // A plain up does not look: the controller is recreated only once refresh finds it gone.
  npmRun("local:up", [STACK, ...NO_GRAFANA]);
  expect(stackObjects("ps", STACK)).not.toContain(oldId.slice(0, 12));
  const again = JSON.parse(npmRun("local:up", [STACK, ...NO_GRAFANA, "--refresh"]));
  expect(again.nodes.map((n: { state: string }) => n.state)).toEqual(["IDLE", "IDLE"]);
  expect(docker(["inspect", "-f", "{{.Id}}", ctl])).not.toBe(oldId);
  // Job ids continue from the saved state instead of starting again at 1.
  const jobId = await eventually("a job accepted by the new controller", 60, () => {
    try {
      return dockerExec(ctl, ["sbatch", "--parsable", "-o", "/dev/null", "--wrap", "true"]).trim();
    } catch {
      return undefined;
    }
  });
  expect(Number(jobId)).toBeGreaterThan(Number(firstJobId));
  // Let it finish: the next test replaces a worker, which must not be running it then.
  expect(await waitForJobEnd(ctl, jobId, 60)).toBe("COMPLETED");
  expect(dockerExec(ctl, ["sacct", "-X", "-n", "-P", "-j", firstJobId, "-o", "JobName"]).trim()).toBe("hello-nodes");
});

test("a worker replaced under a new address still runs jobs", async () => {
  const worker = outputs.nodes[0].containerName;
  await eventually("worker1 idle", 60, () =>
    dockerExec(outputs.controller.containerName, ["sinfo", "-p", "main", "-h", "-n", "worker1", "-o", "%t"]).trim() === "idle" ? true : undefined,
  );
  const address = () => docker(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", worker]);
  const before = address();
  docker(["rm", "-f", worker]);
  // Take the freed address, so the new worker container must get another one.
  const placeholder = `${worker}-placeholder`;
  docker(["run", "-d", "--name", placeholder, "--network", outputs.network, "--entrypoint", "sleep", "debian:trixie-slim", "600"]);
  try {
    npmRun("local:up", [STACK, ...NO_GRAFANA, "--refresh"]);
    expect(address()).not.toBe(before);
    // A batch job: slurmctld itself sends it to the node's address (srun would find it by name).
    const ctl = outputs.controller.containerName;
    const jobId = dockerExec(ctl, ["sbatch", "--parsable", "-w", "worker1", "-o", "/shared/where-%j.out", "--wrap", "hostname"]).trim();
    const state = await waitForJobEnd(ctl, jobId, 60).catch((err: Error) => {
      throw new Error(`${err.message}\n${dockerExec(ctl, ["scontrol", "show", "node", "worker1"])}\n${docker(["logs", "--tail", "20", ctl])}`);
    });
    expect(state).toBe("COMPLETED");
    expect(dockerExec(ctl, ["cat", `/shared/where-${jobId}.out`]).trim()).toBe("worker1");
  } finally {
    docker(["rm", "-f", placeholder]);
  }
});

test("growing to 3 workers and back to 2 touches no other container, and a running job completes", async () => {
  const ctl = outputs.controller.containerName;
  const before = containerIds(STACK);
  const held = heldJob(ctl, ["-w", "worker1"]);
  const running = held.id;
  try {
    await eventually("the job running", 30, () => (dockerExec(ctl, ["squeue", "-h", "-j", running, "-o", "%T"]).trim() === "RUNNING" ? true : undefined));

    const grown = npmRunFull("local:up", [STACK, ...NO_GRAFANA, "-c", "workerCount=3"]);
    // The container, its registration and its upgrade gate; the users' resource adds the new worker to its list.
    expect(grown.stderr).toMatch(/3 created, 1 updated, 0 replaced, 0 deleted/);
    expect(grown.stderr).toMatch(/~ update\s+pulumi-nodejs:dynamic\/slurm-cluster:LinuxUsers linux-users/);
    const afterGrow = containerIds(STACK);
    expect(Object.keys(afterGrow).sort()).toEqual([...Object.keys(before), "slurm-ubuntu-worker3"].sort());
    for (const [name, id] of Object.entries(before)) expect({ name, id: afterGrow[name] }).toEqual({ name, id });
    // Outputs of unchanged workers are what up verified then; the new worker's is fresh.
    expect(JSON.parse(grown.stdout).nodes.map((n: { name: string; state: string }) => `${n.name} ${n.state}`)).toEqual(["worker1 IDLE", "worker2 IDLE", "worker3 IDLE"]);
    expect(dockerExec(ctl, ["sinfo", "-p", "main", "-h", "-N", "-o", "%N %t"]).trim().split("\n").sort()).toEqual(["worker1 mix", "worker2 idle", "worker3 idle"]);

    const shrunk = npmRunFull("local:up", [STACK, ...NO_GRAFANA]);
    expect(shrunk.stderr).toMatch(/0 created, 1 updated, 0 replaced, 3 deleted/);
    expect(containerIds(STACK)).toEqual(before);
    expect(dockerExec(ctl, ["sinfo", "-p", "main", "-h", "-N", "-o", "%N"]).trim().split("\n").sort()).toEqual(["worker1", "worker2"]);
  } finally {
    held.release(); // a failed assertion must not leave worker1 busy for the tests after it
  }
  expect(await waitForJobEnd(ctl, running, 60)).toBe("COMPLETED");
});

test("removing a worker whose job outlasts the drain wait fails, names the job, and keeps the worker", async () => {
  const ctl = outputs.controller.containerName;
  npmRun("local:up", [STACK, ...NO_GRAFANA, "-c", "workerCount=3", "-c", "shrinkDrainSeconds=0"]);
  const job = dockerExec(ctl, ["sbatch", "--parsable", "-w", "worker3", "-o", "/dev/null", "--wrap", "sleep 300"]).trim();
  await eventually("the job running", 30, () => (dockerExec(ctl, ["squeue", "-h", "-j", job, "-o", "%T"]).trim() === "RUNNING" ? true : undefined));
  expect(() => npmRun("local:up", [STACK, ...NO_GRAFANA, "-c", "shrinkDrainSeconds=0"])).toThrow(
    new RegExp(`Slurm node worker3 still runs job\\(s\\) ${job} after 0s \\(slurm-cluster:shrinkDrainSeconds\\); removing it would kill them`),
  );
  expect(docker(["inspect", "-f", "{{.State.Running}}", "slurm-ubuntu-worker3"])).toBe("true");
  expect(dockerExec(ctl, ["squeue", "-h", "-j", job, "-o", "%T"]).trim()).toBe("RUNNING");
  expect(dockerExec(ctl, ["sinfo", "-p", "main", "-h", "-n", "worker3", "-o", "%t"]).trim()).toBe("drng");
  // Allowed to kill: the registration records the new setting first (an update), then the shrink cancels the job.
  npmRun("local:up", [STACK, ...NO_GRAFANA, "-c", "workerCount=3", "-c", "shrinkDrainSeconds=0", "-c", "shrinkKillsJobs=true"]);
  npmRun("local:up", [STACK, ...NO_GRAFANA, "-c", "shrinkDrainSeconds=0", "-c", "shrinkKillsJobs=true"]);
  expect(stackObjects("ps", STACK)).toHaveLength(11);
  expect(await waitForJobEnd(ctl, job, 60)).toMatch(/^CANCELLED/);
  npmRun("local:up", [STACK, ...NO_GRAFANA]); // the stack's own settings again (updates the registrations)
});

test("16 workers come up, and a 16-node job runs on 16 distinct hosts", async () => {
  const ctl = outputs.controller.containerName;
  const started = Date.now();
  const up = JSON.parse(npmRun("local:up", [STACK, ...NO_GRAFANA, "-c", "workerCount=16"]));
  process.stderr.write(`2 -> 16 workers in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  expect(up.nodes.map((n: { state: string }) => n.state)).toEqual(Array(16).fill("IDLE"));
  const hosts = dockerExec(ctl, ["srun", "-N16", "hostname"]).trim().split("\n");
  expect(new Set(hosts).size).toBe(16);
  expect(hosts.sort()).toEqual(Array.from({ length: 16 }, (_, i) => `worker${i + 1}`).sort());
  npmRun("local:up", [STACK, ...NO_GRAFANA]);
  expect(dockerExec(ctl, ["sinfo", "-p", "main", "-h", "-N", "-o", "%N"]).trim().split("\n").sort()).toEqual(["worker1", "worker2"]);
});

test("up --refresh puts back a restart policy changed outside up (the provider reads it back)", () => {
  const worker = outputs.nodes[1].containerName;
  docker(["update", "--restart=no", worker]);
  const { stderr } = npmRunFull("local:up", [STACK, ...NO_GRAFANA, "--refresh"]);
  expect(stderr).toMatch(/(~ update|\+-replace)\s+docker:index\/container:Container worker2-slurmd/);
  expect(docker(["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", worker])).toBe("unless-stopped");
});

// The runner is as strict as pulumi-docker: the network is replaced delete-first (it has a fixed
// name), so every container on it is replaced before it; the queue survives on its volume.
test("a new networkSubnet replaces the cluster network and, first, every container on it; the others stay; queued jobs survive and nodes re-register", async () => {
  const ctl = outputs.controller.containerName;
  const held = dockerExec(ctl, ["sbatch", "--parsable", "--hold", "-o", "/dev/null", "--wrap", "true"]).trim();
  const change = [STACK, ...NO_GRAFANA, "-c", "networkSubnet=172.31.250.0/24"];
  const plan = npmRunFull("local:preview", change).stdout;
  const before = containerIds(STACK);
  // On the cluster network: Slurm's daemons, the login node and the Slurm exporter. The database
  // (accounting network) and Prometheus, Alertmanager, node exporter (monitoring) are not.
  const onCluster = ["controller", "slurmdbd", "worker1", "worker2", "rest", "login", "slurm-exporter"].map((r) => `slurm-ubuntu-${r}`);
  for (const name of ["controller-slurmctld", "accounting-slurmdbd", "worker1-slurmd", "worker2-slurmd", "rest-slurmrestd", "login-sshd", "monitoring-slurm-exporter"]) {
    expect(plan).toMatch(new RegExp(`\\+-replace\\s+docker:index/container:Container ${name}`));
  }
  expect(plan).not.toMatch(/replace\s+docker:index\/container:Container accounting-database/);
  expect(plan).toMatch(/\+-replace\s+docker:index\/network:Network network/);
  const { stdout } = npmRunFull("local:up", change);
  const after = containerIds(STACK);
  expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
  for (const [name, id] of Object.entries(before)) expect({ name, replaced: after[name] !== id }).toEqual({ name, replaced: onCluster.includes(name) });
  expect(docker(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", ctl])).toMatch(/^172\.31\.250\./);
  expect(JSON.parse(stdout).nodes.map((n: { name: string; state: string }) => `${n.name} ${n.state}`)).toEqual(["worker1 IDLE", "worker2 IDLE"]);
  // The held job was in slurmctld's state volume: released, it runs on the new network.
  dockerExec(ctl, ["scontrol", "release", held]);
  expect(await waitForJobEnd(ctl, held, 60)).toBe("COMPLETED");
});

test("destroy stops slurmctld gracefully, and the next up finds the queue as it was", async () => {
  const ctl = outputs.controller.containerName;
  const held = dockerExec(ctl, ["sbatch", "--parsable", "--hold", "-o", "/dev/null", "--wrap", "true"]).trim();
  const log = followLog(ctl);
  const died = dockerEvents(ctl, "die");
  const destroyed = npmRunFull("local:down", [STACK]);
  const lastWords = await log.stop();
  // slurmctld ended on its own (exit 0), not killed (137).
  expect((await died.stop()).map((e) => e.exitCode)).toEqual(["0"]);
  // destroyGraceSeconds: SIGTERM, then time to write the state, not an immediate kill.
  expect(lastWords).toContain("Terminate signal SIGTERM received");
  expect(lastWords).toContain("Saving all slurm state");
  expect(destroyed.stderr).toMatch(/deleted container slurm-ubuntu-controller \(stopped in [\d.]+s, grace 30s\)/);
  expect(stackObjects("ps", STACK)).toEqual([]);

  // New containers, a new munge key and database password; the same state and accounting volumes.
  const again = JSON.parse(npmRun("local:up", [STACK, ...NO_GRAFANA]));
  expect(again.nodes.map((n: { state: string }) => n.state)).toEqual(["IDLE", "IDLE"]);
  expect(dockerExec(ctl, ["squeue", "-h", "-j", held, "-o", "%i %T %r"]).trim()).toBe(`${held} PENDING JobHeldUser`);
  dockerExec(ctl, ["scancel", held]);
  expect(dockerExec(ctl, ["sacct", "-X", "-n", "-P", "-j", firstJobId, "-o", "JobName"]).trim()).toBe("hello-nodes");
});

test("local:down leaves no container or network of the stack, and keeps volumes unless asked", () => {
  npmRun("local:down", [STACK]);
  expect(stackObjects("ps", STACK)).toEqual([]);
  expect(stackObjects("network", STACK)).toEqual([]);
  expect(docker(["volume", "ls", "-q", "--filter", `label=com.slurm-cluster.stack=${STACK}`]).split("\n").sort()).toEqual(
    ["slurm-ubuntu-database", "slurm-ubuntu-prometheus", "slurm-ubuntu-shared", "slurm-ubuntu-statesave"],
  );
  npmRun("local:down", [STACK, "--volumes"]);
  expect(stackObjects("volume", STACK)).toEqual([]);
});

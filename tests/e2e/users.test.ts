// Users and accounts end to end: two users in two accounts log in over SSH with their own keys
// and run jobs as themselves, each seeing only their own jobs and files; a user without an
// association is refused, a MaxJobs limit holds a job, a fair-share change is applied in place,
// a user removed from config loses its association and its key, and the login node keeps its host
// key when its container is replaced.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { containerIds, docker, dockerExec, eventually, npmRun, npmRunFull, waitForJobEnd } from "./helpers";

const STACK = "ubuntu";
const CTL = "slurm-ubuntu-controller";
const LOGIN = "slurm-ubuntu-login";
jest.setTimeout(10 * 60 * 1000);

// Each user's key pair, made by the test (ssh-keygen), as a user would make theirs.
const KEYS = fs.mkdtempSync(path.join(os.tmpdir(), "slurm-cluster-keys-"));
for (const user of ["alice", "bob"]) {
  spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${user}@test`, "-f", path.join(KEYS, user)], { stdio: "inherit" });
}
const ACCOUNTS = (physicsShare: number) => `research fairshare=10\nphysics fairshare=${physicsShare} maxjobs=1`;
const USERS = `alice uid=1001 account=research sshKey=${KEYS}/alice.pub\nbob uid=1002 account=physics sshKey=${KEYS}/bob.pub`;
// A low process limit, so the fork-bomb test reaches it with little memory.
const PROCESS_LIMIT = 200;
const up = (accounts: string, users: string, extra: string[] = []) =>
  npmRunFull("local:up", [STACK, "-c", "monitoring=false", "-c", `userProcessLimit=${PROCESS_LIMIT}`, "-c", `accounts=${accounts}`, "-c", `users=${users}`, ...extra]);

/**
 * ssh as a user with a key to the login node, trusting only the host key the stack published
 * (StrictHostKeyChecking=yes against a known_hosts made from the `login.hostKey` output).
 */
function ssh(user: string, key: string, command: string, tty = false, input?: string): { code: number | null; stdout: string; stderr: string } {
  const res = spawnSync(
    "ssh",
    [
      ...(tty ? ["-tt"] : []),
      "-i", key,
      "-p", String(outputs.login.port),
      "-o", "BatchMode=yes",
      "-o", "IdentitiesOnly=yes",
      "-o", "StrictHostKeyChecking=yes",
      "-o", `UserKnownHostsFile=${path.join(KEYS, "known_hosts")}`,
      `${user}@${outputs.login.host}`,
      command,
    ],
    { encoding: "utf8", timeout: 120_000, input },
  );
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** ssh that must succeed: its stdout. */
function sshOk(user: string, command: string, tty = false, input?: string): string {
  const res = ssh(user, path.join(KEYS, user), command, tty, input);
  if (res.code !== 0) throw new Error(`ssh ${user}@login ${command}: exit ${res.code}: ${res.stderr}`);
  return res.stdout;
}

/** The login node's ED25519 host key as ssh-keyscan sees it on the published port. */
function scannedHostKey(): string {
  const res = spawnSync("ssh-keyscan", ["-t", "ed25519", "-p", String(outputs.login.port), outputs.login.host], { encoding: "utf8" });
  return res.stdout.split("\n").find((l) => l.includes("ssh-ed25519"))?.split(" ").slice(1, 3).join(" ") ?? "";
}

/** sbatch as a user, from their home on the shared volume. */
function sbatchAs(user: string, args: string[]): string {
  return docker(["exec", "-u", user, "-w", `/shared/home/${user}`, CTL, "sbatch", "--parsable", ...args]).trim();
}

let outputs: { accounting: { accounts: string[]; users: string[] }; login: { host: string; port: number; sshCommand: string; hostKey: string } };

beforeAll(() => {
  npmRun("local:down", [STACK, "--volumes"]);
  outputs = JSON.parse(up(ACCOUNTS(5), USERS).stdout);
  fs.writeFileSync(path.join(KEYS, "known_hosts"), `[${outputs.login.host}]:${outputs.login.port} ${outputs.login.hostKey}\n`);
});

afterAll(() => {
  npmRun("local:down", [STACK, "--volumes"]);
  fs.rmSync(KEYS, { recursive: true, force: true });
});

test("the accounts and users are in slurmdbd and in the stack outputs", () => {
  expect(outputs.accounting).toMatchObject({ accounts: ["research", "physics"], users: ["alice", "bob"] });
  const assocs = dockerExec(CTL, ["sacctmgr", "-n", "-P", "show", "assoc", "format=account,user,maxjobs", "where", "user=alice,bob"]).trim().split("\n").sort();
  expect(assocs).toEqual(["physics|bob|1", "research|alice|"]);
});

test("each user exists with the same uid on the controller and every worker, home on the shared volume", () => {
  for (const c of [CTL, "slurm-ubuntu-worker1", "slurm-ubuntu-worker2"]) {
    expect(dockerExec(c, ["id", "alice"]).trim()).toBe("uid=1001(alice) gid=1001(alice) groups=1001(alice)");
    expect(dockerExec(c, ["getent", "passwd", "bob"]).trim()).toBe("bob:x:1002:1002::/shared/home/bob:/bin/bash");
  }
});

test("each user's job runs as that user's uid on the workers, under their account", async () => {
  for (const [user, uid, account] of [["alice", "1001", "research"], ["bob", "1002", "physics"]]) {
    const id = sbatchAs(user, ["-o", "uid-%j.out", "--wrap", "id -u; hostname"]);
    expect(await waitForJobEnd(CTL, id, 120)).toBe("COMPLETED");
    const [printedUid, host] = dockerExec(CTL, ["cat", `/shared/home/${user}/uid-${id}.out`]).trim().split("\n");
    expect(printedUid).toBe(uid);
    expect(host).toMatch(/^worker\d$/);
    expect(dockerExec(CTL, ["sacct", "-X", "-n", "-P", "-j", id, "-o", "User,Account"]).trim()).toBe(`${user}|${account}`);
  }
});

test("the login node is published on 127.0.0.1:2222 and its host key is the one the stack output names", () => {
  expect(outputs.login).toMatchObject({ host: "127.0.0.1", port: 2222, sshCommand: "ssh -p 2222 alice@127.0.0.1" });
  expect(outputs.login.hostKey).toMatch(/^ssh-ed25519 [A-Za-z0-9+/]+=*$/);
  expect(scannedHostKey()).toBe(outputs.login.hostKey);
});

test("alice and bob log in over SSH with their keys and submit from their homes; sacct shows each job under its user", async () => {
  for (const [user, account] of [["alice", "research"], ["bob", "physics"]]) {
    expect(sshOk(user, "id -un; pwd").trim().split("\n")).toEqual([user, `/shared/home/${user}`]);
    const id = sshOk(user, "sbatch --parsable -o ssh-%j.out --wrap 'id -un'").trim();
    expect(await waitForJobEnd(CTL, id, 120)).toBe("COMPLETED");
    expect(sshOk(user, `cat ssh-${id}.out`).trim()).toBe(user);
    expect(dockerExec(CTL, ["sacct", "-X", "-n", "-P", "-j", id, "-o", "User,Account"]).trim()).toBe(`${user}|${account}`);
  }
});

test("the job templates are on the login node, and a user runs one from there", async () => {
  expect(sshOk("alice", "ls /opt/slurm-cluster/job-templates").split("\n")).toEqual(expect.arrayContaining(["hello-nodes.sbatch", "ml-training", "README.md"]));
  const id = sshOk("alice", "sbatch --parsable /opt/slurm-cluster/job-templates/hello-nodes.sbatch").trim();
  expect(await waitForJobEnd(CTL, id, 180)).toBe("COMPLETED");
});

test("an interactive srun --pty runs on a worker over SSH", () => {
  const out = sshOk("alice", "srun -N1 --pty bash -c 'echo on $(hostname) as $(id -un)'", true);
  expect(out).toMatch(/on worker\d as alice/);
});

test("bob sees neither alice's jobs nor her files, and cannot cancel her job, which runs on", async () => {
  const marker = "/shared/.release-$SLURM_JOB_ID";
  const id = sshOk("alice", `sbatch --parsable --time=10 -o held-%j.out --wrap 'echo secret; while [ ! -e ${marker} ]; do sleep 0.2; done'`).trim();
  try {
    await eventually("alice's job running", 60, () => (dockerExec(CTL, ["squeue", "-h", "-j", id, "-o", "%T"]).trim() === "RUNNING" ? true : undefined));
    expect(sshOk("alice", "squeue -h -o %i").split("\n")).toContain(id);
    expect(sshOk("bob", "squeue -h -o %i").split("\n")).not.toContain(id);
    expect(sshOk("bob", "sacct -X -n -P -o JobID -S now-1hour").split("\n")).not.toContain(id);
    const cancel = ssh("bob", path.join(KEYS, "bob"), `scancel ${id}`);
    expect(cancel.code).not.toBe(0);
    expect(cancel.stderr).toMatch(/denied|Invalid job id/i);
    const read = ssh("bob", path.join(KEYS, "bob"), `cat /shared/home/alice/held-${id}.out`);
    expect(read.code).not.toBe(0);
    expect(read.stderr).toMatch(/Permission denied/);
    expect(read.stdout).not.toMatch(/secret/);
    expect(ssh("bob", path.join(KEYS, "bob"), "ls /shared/home/alice").stderr).toMatch(/Permission denied/);
    // root (the operator's view) still sees it, and it is still running after bob's scancel.
    expect(dockerExec(CTL, ["squeue", "-h", "-j", id, "-o", "%T"]).trim()).toBe("RUNNING");
  } finally {
    dockerExec(CTL, ["touch", `/shared/.release-${id}`]);
  }
  expect(await waitForJobEnd(CTL, id, 60)).toBe("COMPLETED");
});

test("a fork bomb in a job stops at userProcessLimit and fails; the node stays up and runs the next job", async () => {
  // Forks until the kernel refuses (RLIMIT_NPROC), reports how far it got, ends its children, fails.
  const bomb = [
    "import os, resource, signal, sys, time",
    "print(resource.getrlimit(resource.RLIMIT_NPROC)[0], flush=True)",
    "kids = []",
    "try:",
    "    while len(kids) < 10000:",
    "        pid = os.fork()",
    "        if pid == 0:",
    "            time.sleep(120)",
    "            os._exit(0)",
    "        kids.append(pid)",
    "except OSError as e:",
    "    print('fork refused after', len(kids), e.strerror, flush=True)",
    "for pid in kids:",
    "    os.kill(pid, signal.SIGKILL)",
    "sys.exit(1)",
  ].join("\n");
  const id = sshOk("alice", `cat > bomb.py && sbatch --parsable -w worker1 -o bomb-%j.out --wrap 'python3 bomb.py'`, false, bomb).trim();
  expect(await waitForJobEnd(CTL, id, 180)).toBe("FAILED");
  const [limit, refused] = sshOk("alice", `cat bomb-${id}.out`).trim().split("\n");
  expect(limit).toBe(String(PROCESS_LIMIT));
  const forked = Number(/^fork refused after (\d+) Resource temporarily unavailable$/.exec(refused)?.[1]);
  expect(forked).toBeGreaterThan(0);
  expect(forked).toBeLessThan(PROCESS_LIMIT);
  // slurmd (root, not counted) kept running: the node is usable and runs the next job.
  await eventually("worker1 idle", 60, () => (dockerExec(CTL, ["sinfo", "-h", "-n", "worker1", "-o", "%t"]).trim() === "idle" ? true : undefined));
  const next = sshOk("alice", "sbatch --parsable -w worker1 -o /dev/null --wrap true").trim();
  expect(await waitForJobEnd(CTL, next, 60)).toBe("COMPLETED");
});

test("root, and a user with another user's key, are refused by sshd", () => {
  const asRoot = ssh("root", path.join(KEYS, "alice"), "id");
  expect(asRoot.code).toBe(255);
  expect(asRoot.stderr).toMatch(/Permission denied \(publickey\)/);
  const wrongKey = ssh("bob", path.join(KEYS, "alice"), "id");
  expect(wrongKey.code).toBe(255);
  expect(wrongKey.stderr).toMatch(/Permission denied \(publickey\)/);
});

test("a new login container keeps the stack's host key", () => {
  const before = containerIds(STACK)[LOGIN];
  docker(["rm", "-f", LOGIN]);
  up(ACCOUNTS(5), USERS, ["--refresh"]);
  expect(containerIds(STACK)[LOGIN]).not.toBe(before);
  expect(scannedHostKey()).toBe(outputs.login.hostKey);
  expect(sshOk("alice", "id -un").trim()).toBe("alice");
});

test("a user with no association is refused at submit with Slurm's message", () => {
  let refused = "";
  try {
    docker(["exec", "-u", "nobody", "-w", "/tmp", CTL, "sbatch", "--wrap", "true"]);
  } catch (err) {
    refused = String((err as { stderr?: string }).stderr ?? err);
  }
  expect(refused).toMatch(/Invalid account or account\/partition combination specified/);
});

test("MaxJobs=1 on physics holds bob's second job PENDING with AssocMaxJobsLimit", async () => {
  const first = sbatchAs("bob", ["-o", "/dev/null", "--wrap", "sleep 60"]);
  const second = sbatchAs("bob", ["-o", "/dev/null", "--wrap", "sleep 60"]);
  try {
    const state = await eventually("second job held", 30, () => {
      const line = dockerExec(CTL, ["squeue", "-h", "-j", `${first},${second}`, "-o", "%i %T %r"]).trim().split("\n").sort();
      return line.length === 2 && line[0].startsWith(`${first} RUNNING`) ? line[1] : undefined;
    });
    expect(state).toBe(`${second} PENDING AssocMaxJobsLimit`);
  } finally {
    dockerExec(CTL, ["scancel", first, second]);
  }
});

test("changing a fair-share value updates the account in place, replacing no container", () => {
  const before = containerIds(STACK);
  const { stderr } = up(ACCOUNTS(7), USERS);
  expect(stderr).toMatch(/~ update\s+pulumi-nodejs:dynamic\/slurm-cluster:SlurmAccount account-physics/);
  expect(stderr).toMatch(/0 created, 1 updated, 0 replaced, 0 deleted/);
  expect(containerIds(STACK)).toEqual(before);
  expect(dockerExec(CTL, ["sshare", "-n", "-P", "-A", "physics", "-o", "Account,RawShares"]).trim().split("\n")[0]).toBe("physics|7");
});

test("removing a user from config removes the association, replacing no container", () => {
  const before = containerIds(STACK);
  const { stderr } = up(ACCOUNTS(7), `alice uid=1001 account=research sshKey=${KEYS}/alice.pub`);
  expect(containerIds(STACK)).toEqual(before);
  // bob's key went with him: sshd finds no key file for him.
  expect(ssh("bob", path.join(KEYS, "bob"), "id").stderr).toMatch(/Permission denied \(publickey\)/);
  expect(stderr).toMatch(/- delete\s+pulumi-nodejs:dynamic\/slurm-cluster:SlurmUser user-bob/);
  expect(dockerExec(CTL, ["sacctmgr", "-n", "-P", "show", "assoc", "format=account,user", "where", "user=bob"]).trim()).toBe("");
  expect(dockerExec(CTL, ["sacctmgr", "-n", "-P", "show", "assoc", "format=account,user", "where", "user=alice"]).trim()).toBe("research|alice");
});

test("a user added later can submit at once, on every node, and no container is replaced", async () => {
  const before = containerIds(STACK);
  up(ACCOUNTS(7), `alice uid=1001 account=research sshKey=${KEYS}/alice.pub\ncarol uid=1003 account=physics`);
  expect(containerIds(STACK)).toEqual(before);
  // carol has no key: she exists on the login node, but sshd lets her in with none.
  expect(dockerExec(LOGIN, ["id", "-un", "carol"]).trim()).toBe("carol");
  expect(ssh("carol", path.join(KEYS, "alice"), "id").stderr).toMatch(/Permission denied \(publickey\)/);
  const id = sbatchAs("carol", ["-N2", "-o", "carol-%j.out", "--wrap", "srun id -u"]);
  expect(await waitForJobEnd(CTL, id, 120)).toBe("COMPLETED");
  expect(dockerExec(CTL, ["cat", `/shared/home/carol/carol-${id}.out`]).trim().split("\n")).toEqual(["1003", "1003"]);
});

test("removing an account and user whose job is running fails with slurmdbd's reason, and keeps them", async () => {
  const running = sbatchAs("alice", ["-o", "/dev/null", "--wrap", "sleep 60"]);
  try {
    await eventually("alice's job running", 30, () => (dockerExec(CTL, ["squeue", "-h", "-j", running, "-o", "%T"]).trim() === "RUNNING" ? true : undefined));
    let failure = "";
    try {
      up("physics fairshare=7 maxjobs=1", "");
    } catch (err) {
      failure = (err as Error).message;
    }
    expect(failure).toMatch(/sacctmgr delete user where name=alice: .*Job\(s\) active, cancel job\(s\) before remove/);
    expect(dockerExec(CTL, ["sacctmgr", "-n", "-P", "show", "assoc", "format=account,user", "where", "user=alice"]).trim()).toBe("research|alice");
    expect(dockerExec(CTL, ["squeue", "-h", "-j", running, "-o", "%T"]).trim()).toBe("RUNNING");
  } finally {
    dockerExec(CTL, ["scancel", running]);
  }
});

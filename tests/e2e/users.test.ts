// Users and accounts end to end: two users in two accounts run jobs as themselves, a user without
// an association is refused, a MaxJobs limit holds a job, a fair-share change is applied in place
// and a user removed from config loses its association.
import { containerIds, docker, dockerExec, eventually, npmRun, npmRunFull, waitForJobEnd } from "./helpers";

const STACK = "ubuntu";
const CTL = "slurm-ubuntu-controller";
jest.setTimeout(10 * 60 * 1000);

const ACCOUNTS = (physicsShare: number) => `research fairshare=10\nphysics fairshare=${physicsShare} maxjobs=1`;
const USERS = "alice uid=1001 account=research\nbob uid=1002 account=physics";
const up = (accounts: string, users: string) =>
  npmRunFull("local:up", [STACK, "-c", "monitoring=false", "-c", `accounts=${accounts}`, "-c", `users=${users}`]);

/** sbatch as a user, from their home on the shared volume. */
function sbatchAs(user: string, args: string[]): string {
  return docker(["exec", "-u", user, "-w", `/shared/home/${user}`, CTL, "sbatch", "--parsable", ...args]).trim();
}

let outputs: { accounting: { accounts: string[]; users: string[] } };

beforeAll(() => {
  npmRun("local:down", [STACK, "--volumes"]);
  outputs = JSON.parse(up(ACCOUNTS(5), USERS).stdout);
});

afterAll(() => npmRun("local:down", [STACK, "--volumes"]));

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
  const { stderr } = up(ACCOUNTS(7), "alice uid=1001 account=research");
  expect(containerIds(STACK)).toEqual(before);
  expect(stderr).toMatch(/- delete\s+pulumi-nodejs:dynamic\/slurm-cluster:SlurmUser user-bob/);
  expect(dockerExec(CTL, ["sacctmgr", "-n", "-P", "show", "assoc", "format=account,user", "where", "user=bob"]).trim()).toBe("");
  expect(dockerExec(CTL, ["sacctmgr", "-n", "-P", "show", "assoc", "format=account,user", "where", "user=alice"]).trim()).toBe("research|alice");
});

test("a user added later can submit at once, on every node, and no container is replaced", async () => {
  const before = containerIds(STACK);
  up(ACCOUNTS(7), "alice uid=1001 account=research\ncarol uid=1003 account=physics");
  expect(containerIds(STACK)).toEqual(before);
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

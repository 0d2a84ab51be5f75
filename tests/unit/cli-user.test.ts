// The CLI acting as one of the cluster's users (--user) and the token command, run in-process
// through main() against a faked controller: openCluster is replaced by a cluster whose engine
// records every exec (command, user, workdir) and answers from a script, so each test can say who
// each Slurm command ran as, and that a refused command line ran nothing.
import { asClusterUser, Cluster, openCluster } from "../../cli/cluster";
import { CliError } from "../../cli/errors";
import { main } from "../../cli/main";
import { tokenLifespan } from "../../cli/token";

jest.mock("../../cli/cluster", () => ({ ...jest.requireActual("../../cli/cluster"), openCluster: jest.fn() }));

interface Exec {
  cmd: string[];
  user?: string;
  workdir?: string;
}
type Answer = { code?: number; out?: string; err?: string };

const JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdW4iOiJib2IifQ.c2lnbmF0dXJl";

/** The controller: answers by command name (and the user it runs as), logging every exec. */
function fakeCluster(answer: (e: Exec) => Answer = () => ({})) {
  const execs: Exec[] = [];
  const run = async (_container: string, cmd: string[], opts: { user?: string; workdir?: string } = {}) => {
    const e = { cmd, user: opts.user, workdir: opts.workdir };
    execs.push(e);
    const a = answer(e);
    return { code: a.code ?? 0, out: a.out ?? "", err: a.err ?? "" };
  };
  const cluster = {
    stack: "ubuntu",
    outputs: { controller: { containerName: "slurm-ubuntu-controller" }, sharedVolume: { name: "shared", mountPath: "/shared" }, accounting: { accounts: ["research"], users: ["alice", "bob"], qos: [] } },
    engine: { run },
    user: "alice",
    home: "/shared/home/alice",
    labels: [],
  } as unknown as Cluster;
  jest.mocked(openCluster).mockResolvedValue(cluster);
  return { cluster, execs };
}

/** Slurm as it answers with alice's running job 42 and no PrivateData (every user sees it). */
function slurmAnswers(e: Exec): Answer {
  switch (e.cmd[0]) {
    case "sinfo":
      return { out: "worker1|idle|2|1024|ubuntu|main*|none\nworker2|idle|2|1024|ubuntu|main*|none\n" };
    case "sbatch":
      return { out: "42\n" };
    case "squeue":
      return { out: "42|hello|alice|RUNNING|0:03|worker1|2026-11-30T03:00:00\n" };
    case "sacct":
      return e.cmd.includes("JobID,JobIDRaw,JobName,User,NodeList,StdOut,WorkDir")
        ? { out: "42|42|hello|alice|worker1|/shared/home/alice/runs/x/hello-%j.out|/shared/home/alice/runs/x\n" }
        : { out: "42|hello|alice|RUNNING|0:0|00:00:03|worker1|2026-11-30T03:00:00\n" };
    case "scancel":
      return e.user === undefined || e.user === "alice" ? {} : { code: 1, err: "scancel: error: Kill job error on job id 42: Access/permission denied\n" };
    case "scontrol":
      return { out: `SLURM_JWT=${JWT}\n` };
    case "sh":
      return { out: "hello from worker1\n" };
    default:
      return {};
  }
}

/** Runs the CLI in-process: its exit code, stdout and stderr. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const err = jest.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true));
  const out = jest.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => ((stdout += chunk.toString()), true));
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    err.mockRestore();
    out.mockRestore();
  }
}

const slurmCalls = (execs: Exec[], command: string) => execs.filter((e) => e.cmd[0] === command);

beforeEach(() => jest.mocked(openCluster).mockReset());

describe("--user", () => {
  it.each([
    [["submit", "hello-nodes", "--user", "nobody"]],
    [["jobs", "--user", "nobody"]],
    [["cancel", "42", "--user", "nobody"]],
    [["logs", "42", "-u", "nobody"]],
    [["token", "--user", "nobody"]],
  ])("%j: a name that is not one of the stack's users is refused in one line, exit 2, before any command runs", async (args) => {
    const { execs } = fakeCluster(slurmAnswers);
    const { code, stderr, stdout } = await cli(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^error: no user nobody in stack ubuntu's users \(alice, bob\); /);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stdout).toBe("");
    expect(execs).toEqual([]);
  });

  it("names a user the config declares but the cluster does not have yet, with the up that adds them", () => {
    const { cluster } = fakeCluster();
    expect(() => asClusterUser(cluster, "carol", () => ["alice", "bob", "carol"])).toThrow(
      "no user carol in stack ubuntu's users (alice, bob); carol is in slurm-cluster:users but not on the cluster yet: slurm-cluster up ubuntu",
    );
    expect(() => asClusterUser(cluster, "root", () => [])).toThrow(CliError);
    expect(asClusterUser(cluster, "bob", () => [])).toMatchObject({ user: "bob", home: "/shared/home/bob" });
    expect(asClusterUser(cluster, undefined)).toBe(cluster);
  });

  it("submit runs mkdir and sbatch as the user named, in their home; the first user without --user", async () => {
    const { execs } = fakeCluster(slurmAnswers);
    const bob = await cli(["submit", "hello-nodes", "--user", "bob"]);
    expect(bob.code).toBe(0);
    expect(bob.stdout).toMatch(/^submitted hello-nodes as bob: job 42 \(hello-nodes\)\nrun directory: \/shared\/home\/bob\/runs\/hello-nodes-/);
    const [mkdir] = slurmCalls(execs, "mkdir");
    const [sbatch] = slurmCalls(execs, "sbatch");
    expect(mkdir.user).toBe("bob");
    expect(mkdir.cmd[2]).toMatch(/^\/shared\/home\/bob\/runs\/hello-nodes-\d{8}-\d{6}$/);
    expect(sbatch).toMatchObject({ user: "bob", workdir: mkdir.cmd[2] });
    expect(sbatch.cmd).toContain(`--chdir=${mkdir.cmd[2]}`);

    execs.length = 0;
    expect((await cli(["submit", "hello-nodes"])).code).toBe(0);
    expect(slurmCalls(execs, "sbatch").map((e) => [e.user, e.workdir?.startsWith("/shared/home/alice/runs/")])).toEqual([["alice", true]]);
  });

  it("jobs runs squeue and sacct as the user named (PrivateData decides), as root without --user", async () => {
    const { execs } = fakeCluster(slurmAnswers);
    const bob = await cli(["jobs", "--user", "bob", "--json"]);
    expect(bob.code).toBe(0);
    expect(JSON.parse(bob.stdout).jobs.map((j: { id: string }) => j.id)).toEqual(["42"]);
    expect(execs.map((e) => [e.cmd[0], e.user])).toEqual([["sacct", "bob"], ["squeue", "bob"]]);
    expect(execs[0].cmd).toContain("-a"); // every user's jobs where PrivateData lets the user see them

    execs.length = 0;
    expect((await cli(["jobs"])).code).toBe(0);
    expect(execs.map((e) => [e.cmd[0], e.user])).toEqual([["sacct", undefined], ["squeue", undefined]]);
  });

  it("cancel runs scancel as the user named: their own job is cancelled, another's refused with Slurm's reason in one line", async () => {
    const { execs } = fakeCluster(slurmAnswers);
    const alice = await cli(["cancel", "42", "--user", "alice"]);
    expect(alice).toMatchObject({ code: 0, stdout: "cancelled 42 (RUNNING) as alice\n" });
    expect(execs.every((e) => e.user === "alice")).toBe(true);
    expect(slurmCalls(execs, "scancel").map((e) => e.cmd)).toEqual([["scancel", "42"]]);

    execs.length = 0;
    const bob = await cli(["cancel", "42", "--user", "bob"]);
    expect(bob.code).toBe(1);
    expect(bob.stderr).toBe("error: scancel as bob: Kill job error on job id 42: Access/permission denied\n");
    expect(slurmCalls(execs, "scancel").map((e) => e.user)).toEqual(["bob"]);

    execs.length = 0;
    expect((await cli(["cancel", "42"])).code).toBe(0);
    expect(slurmCalls(execs, "scancel").map((e) => e.user)).toEqual([undefined]);
  });

  it("cancel --user leaves a job the user cannot see (PrivateData) to scancel, and a refusal that exits 0 still fails", async () => {
    const { execs } = fakeCluster((e) =>
      e.cmd[0] === "scancel" ? { code: 0, err: "scancel: error: Kill job error on job id 42: Invalid job id specified\n" } : e.cmd[0] === "squeue" ? { code: 1, err: "slurm_load_jobs error: Invalid job id specified" } : {},
    );
    const bob = await cli(["cancel", "42", "--user", "bob"]);
    expect(bob).toMatchObject({ code: 1, stderr: "error: scancel as bob: Kill job error on job id 42: Invalid job id specified\n" });
    expect(slurmCalls(execs, "scancel")).toHaveLength(1);
  });

  it("logs --user reads the user's own job as them, and refuses another user's job before reading anything", async () => {
    const { execs } = fakeCluster(slurmAnswers);
    const alice = await cli(["logs", "42", "--user", "alice"]);
    expect(alice).toMatchObject({ code: 0, stdout: "hello from worker1\n" });
    expect(execs.map((e) => [e.cmd[0], e.user])).toEqual([["sacct", "alice"], ["sh", "alice"]]);

    execs.length = 0;
    const bob = await cli(["logs", "42", "--user", "bob"]);
    expect(bob.code).toBe(1);
    expect(bob.stderr).toBe("error: job 42 is alice's, not bob's: with --user bob, only bob's own jobs' output is read\n");
    expect(execs.map((e) => [e.cmd[0], e.user])).toEqual([["sacct", "bob"]]);
  });

  it("logs --user says the user has no such job when Slurm hides another user's (PrivateData=jobs)", async () => {
    const { execs } = fakeCluster((e) => (e.cmd[0] === "squeue" ? { code: 1, err: "slurm_load_jobs error: Invalid job id specified" } : {}));
    const bob = await cli(["logs", "42", "--user", "bob"]);
    expect(bob).toMatchObject({ code: 1, stderr: "error: bob has no job 42 in the queue or in accounting\n" });
    expect(execs.every((e) => e.user === "bob" && e.cmd[0] !== "sh")).toBe(true);
  });

  it("logs without --user reads as the job's user from accounting, asking accounting as root", async () => {
    const { execs } = fakeCluster(slurmAnswers);
    expect((await cli(["logs", "42"])).code).toBe(0);
    expect(execs.map((e) => [e.cmd[0], e.user])).toEqual([["sacct", undefined], ["sh", "alice"]]);
  });
});

describe("token", () => {
  it("runs scontrol token as root on the controller for the user named, and prints the token alone", async () => {
    const { execs } = fakeCluster(slurmAnswers);
    const bob = await cli(["token", "--user", "bob", "--lifespan", "600"]);
    expect(bob).toEqual({ code: 0, stdout: `${JWT}\n`, stderr: "" });
    expect(execs).toEqual([{ cmd: ["scontrol", "token", "username=bob", "lifespan=600"], user: undefined, workdir: undefined }]);
  });

  it("names the stack's first user for an hour by default", async () => {
    const { execs } = fakeCluster(slurmAnswers);
    expect((await cli(["token"])).stdout).toBe(`${JWT}\n`);
    expect(execs.map((e) => e.cmd)).toEqual([["scontrol", "token", "username=alice", "lifespan=3600"]]);
  });

  it("passes on slurmctld's refusal in one line, and an answer without SLURM_JWT= is an error", async () => {
    fakeCluster(() => ({ code: 1, err: "scontrol: error: Unable to create JWT token: Access/permission denied\n" }));
    expect(await cli(["token"])).toEqual({ code: 1, stdout: "", stderr: "error: scontrol token username=alice: Unable to create JWT token: Access/permission denied\n" });
    fakeCluster(() => ({ out: "nothing useful\n" }));
    expect((await cli(["token"])).stderr).toBe("error: scontrol token username=alice: nothing useful\n");
  });

  it.each(["59", "31536001", "1h", "3600.5", "-60", ""])("--lifespan %j is refused with exit 2 before the cluster is opened", async (lifespan) => {
    fakeCluster(slurmAnswers);
    const { code, stderr } = await cli(["token", "--lifespan", lifespan]);
    expect(code).toBe(2);
    expect(stderr).toBe(`error: --lifespan ${lifespan}: expected whole seconds from 60 to 31536000 (a year)\n`);
    expect(openCluster).not.toHaveBeenCalled();
  });

  it("takes whole seconds from a minute to a year", () => {
    expect([tokenLifespan("60"), tokenLifespan("3600"), tokenLifespan("31536000")]).toEqual([60, 3600, 31536000]);
  });
});

// Users, accounts and QOS: the config lists, what they refuse, the rendered files, the resources
// the program declares for slurmdbd, and the accounting provider's diff.
import { renderUsersFile } from "../../config/accounting";
import { renderSlurmConf } from "../../config/render";
import { AccountingObjectInputs, accountingProvider } from "../../components/slurm-accounting";
import { CONTAINER, ofType, runWithMocks } from "./harness";
import { testSpec } from "./spec";

const ACCOUNTS = "research fairshare=10\nphysics parent=research fairshare=5 maxjobs=1 grptres=cpu=4 qos=normal,high";
const USERS = "alice uid=1001 account=research\nbob uid=1002 account=physics admin=operator";
const QOS = "high priority=100 maxwall=01:00:00";
const config = (extra: Record<string, string> = {}) => ({
  "slurm-cluster:accounts": ACCOUNTS,
  "slurm-cluster:users": USERS,
  "slurm-cluster:qos": QOS,
  ...extra,
});

describe("users, accounts and QOS in stack config", () => {
  it("parse one per line (or ;) into what slurmdbd and the nodes need", async () => {
    const spec = await testSpec(config());
    expect(spec.accounting.accounts).toEqual([
      { name: "research", parent: "root", fairshare: 10, maxJobs: undefined, grpTres: undefined, qos: [] },
      { name: "physics", parent: "research", fairshare: 5, maxJobs: 1, grpTres: "cpu=4", qos: ["normal", "high"] },
    ]);
    expect(spec.accounting.users).toEqual([
      { name: "alice", uid: 1001, gid: 1001, account: "research", admin: "none" },
      { name: "bob", uid: 1002, gid: 1002, account: "physics", admin: "operator" },
    ]);
    expect(spec.accounting.qos).toEqual([{ name: "high", priority: 100, maxWall: "01:00:00" }]);
    expect(renderUsersFile(spec.accounting.users)).toBe("alice:1001:1001\nbob:1002:1002\n");
    const semicolons = await testSpec(config({ "slurm-cluster:users": "alice uid=1001 account=research; bob uid=1002 account=physics" }));
    expect(semicolons.accounting.users.map((u) => u.name)).toEqual(["alice", "bob"]);
  });

  it("ship one account and one unprivileged user by default", async () => {
    const spec = await testSpec({});
    expect(spec.accounting.accounts.map((a) => a.name)).toEqual(["research"]);
    expect(spec.accounting.users).toEqual([{ name: "alice", uid: 1001, gid: 1001, account: "research", admin: "none" }]);
  });

  it.each([
    ["duplicate user names", { "slurm-cluster:users": "alice uid=1001 account=research\nalice uid=1002 account=research" }, /slurm-cluster:users: user alice is declared twice/],
    ["duplicate uids", { "slurm-cluster:users": "alice uid=1001 account=research\ncarol uid=1001 account=research" }, /slurm-cluster:users: uid 1001 is given to more than one user/],
    ["a uid below 1000", { "slurm-cluster:users": "alice uid=0 account=research" }, /"alice uid=0 account=research": uid=0: expected a whole number from 1000 to 60000/],
    ["an account whose parent does not exist", { "slurm-cluster:accounts": "physics parent=nowhere" , "slurm-cluster:users": "" }, /account physics has parent nowhere, which is not declared/],
    ["a user whose default account is not declared", { "slurm-cluster:users": "alice uid=1001 account=chemistry" }, /user alice has default account chemistry, which is not declared in slurm-cluster:accounts/],
    ["an account that is its own ancestor", { "slurm-cluster:accounts": "a parent=b\nb parent=a", "slurm-cluster:users": "" }, /account a is its own ancestor/],
    ["an unknown setting", { "slurm-cluster:accounts": "research fairshare=1 colour=blue" }, /unknown setting\(s\) colour/],
  ])("refuse %s before anything is created, naming the key", async (_what, extra, message) => {
    const overrides = Object.entries({ ...config(), ...extra }).map(([k, v]) => `${k}=${v}`);
    const run = await runWithMocks("ubuntu", overrides);
    expect(run.error?.message).toMatch(/The stack config is not valid; nothing was created/);
    expect(run.error?.message).toMatch(message);
    expect(run.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
  });

  it("make slurm.conf enforce associations, limits and QOS, with fair-share priority", async () => {
    const conf = renderSlurmConf(await testSpec({}));
    expect(conf).toMatch(/^AccountingStorageEnforce=associations,limits,qos$/m);
    expect(conf).toMatch(/^PriorityType=priority\/multifactor$/m);
    expect(conf).toMatch(/^PriorityWeightFairshare=10000$/m);
  });
});

describe("the accounting objects the program declares", () => {
  const overrides = Object.entries(config()).map(([k, v]) => `${k}=${v}`);

  it("are one resource each, QOS before accounts, parents before children, accounts before their users", async () => {
    const run = await runWithMocks("ubuntu", overrides);
    expect(run.error).toBeUndefined();
    const objects = run.registrations.filter((r) => /SlurmAccount|SlurmUser|SlurmQos/.test(r.type));
    const byName = Object.fromEntries(objects.map((r) => [r.name, r]));
    // Registration order follows dependency resolution; the dependencies are checked below.
    const order = ["SlurmQos", "SlurmAccount", "SlurmUser"];
    const rows = objects.map((r) => [r.type.split(":").pop()!, r.inputs.name, r.inputs.settings] as [string, string, unknown]);
    rows.sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]) || (a[0] === "SlurmAccount" ? 0 : a[1].localeCompare(b[1])));
    expect(rows).toEqual([
      ["SlurmQos", "high", { priority: "100", maxwall: "01:00:00" }],
      ["SlurmAccount", "research", { parent: "root", fairshare: "10" }],
      ["SlurmAccount", "physics", { parent: "research", fairshare: "5", maxjobs: "1", grptres: "cpu=4", qos: "normal,high" }],
      ["SlurmUser", "alice", { account: "research", defaultaccount: "research", adminlevel: "None" }],
      ["SlurmUser", "bob", { account: "physics", defaultaccount: "physics", adminlevel: "Operator" }],
      // The Slurm exporter's user (monitoring on): an operator that may submit nothing.
      ["SlurmUser", "slurm-exporter", { account: "root", defaultaccount: "root", adminlevel: "Operator", maxsubmitjobs: "0" }],
    ]);
    const dependsOn = (name: string) => byName[name].details.dependencies.map((urn) => urn.split("::").pop());
    expect(dependsOn("account-physics")).toEqual(expect.arrayContaining(["account-research", "qos-high", "controller-slurmctld"]));
    expect(dependsOn("user-bob")).toEqual(expect.arrayContaining(["account-physics"]));
    expect(objects.every((r) => r.inputs.controllerContainer === "slurm-ubuntu-controller")).toBe(true);
    expect(run.outputs.accounting).toEqual({ accounts: ["research", "physics"], users: ["alice", "bob"], qos: ["high"] });
  });

  it("keep the users' Linux accounts on the controller, every worker and the login node through one resource, not through uploads", async () => {
    const run = await runWithMocks("ubuntu", overrides);
    const users = run.registrations.filter((r) => r.type === "pulumi-nodejs:dynamic/slurm-cluster:LinuxUsers");
    expect(users.map((r) => [r.inputs.usersFile, r.inputs.containers])).toEqual([
      ["alice:1001:1001\nbob:1002:1002\n", ["slurm-ubuntu-controller", "slurm-ubuntu-worker1", "slurm-ubuntu-worker2", "slurm-ubuntu-login"]],
    ]);
    // A change of users must not replace containers: the list is in no container's inputs.
    for (const c of ofType(run, CONTAINER)) expect(JSON.stringify(c.inputs)).not.toContain("bob:1002");
  });
});

describe("the accounting provider's diff", () => {
  const base: AccountingObjectInputs = {
    kind: "account", name: "physics", settings: { parent: "research", fairshare: "5" }, controllerContainer: "c", dockerHost: "unix:///d",
  };
  const diff = (news: Partial<AccountingObjectInputs>) => accountingProvider.diff!("id", base, { ...base, ...news });

  it("is no change for the same settings", async () => {
    expect(await diff({})).toMatchObject({ changes: false, replaces: [] });
  });
  it("updates a fair-share or limit change in place", async () => {
    expect(await diff({ settings: { parent: "research", fairshare: "50" } })).toMatchObject({ changes: true, replaces: [] });
    expect(await diff({ settings: { parent: "research", fairshare: "5", maxjobs: "2" } })).toMatchObject({ changes: true, replaces: [] });
  });
  it("replaces an account that moves to another parent, and a user that changes account", async () => {
    expect(await diff({ settings: { parent: "root", fairshare: "5" } })).toMatchObject({ changes: true, replaces: ["settings.parent"] });
    const user: AccountingObjectInputs = { ...base, kind: "user", name: "bob", settings: { account: "physics", defaultaccount: "physics", adminlevel: "None" } };
    const moved = await accountingProvider.diff!("id", user, { ...user, settings: { ...user.settings, account: "research", defaultaccount: "research" } });
    expect(moved).toMatchObject({ changes: true, replaces: ["settings.account"] });
    const promoted = await accountingProvider.diff!("id", user, { ...user, settings: { ...user.settings, adminlevel: "Operator" } });
    expect(promoted).toMatchObject({ changes: true, replaces: [] });
  });
});

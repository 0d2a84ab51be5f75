// The login node's config: users' sshKey files (read before anything is created, only public keys
// accepted), loginPort clashes, what the program declares for it, and PrivateData in slurm.conf.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { readPublicKeys, renderAuthorizedKeys } from "../../config/ssh-keys";
import { renderSlurmConf } from "../../config/render";
import { runWithMocks } from "./harness";
import { testSpec } from "./spec";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "login-test-"));
const keygen = (name: string, type = "ed25519") => {
  const res = spawnSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", `${name}@test`, "-f", path.join(dir, name)]);
  if (res.status !== 0) throw new Error(`ssh-keygen: ${res.stderr}`);
  return path.join(dir, name);
};
const alice = keygen("alice");
const bob = keygen("bob", "rsa");
fs.writeFileSync(path.join(dir, "notakey.pub"), "hello world\n");
// A blob whose inner type is not the one the line names.
const blob = fs.readFileSync(`${alice}.pub`, "utf8").split(" ")[1];
fs.writeFileSync(path.join(dir, "mismatch.pub"), `ssh-rsa ${blob}\n`);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const usersWith = (aliceKey: string) => `users=alice uid=1001 account=research sshKey=${aliceKey}\nbob uid=1002 account=research sshKey=${bob}.pub`;

describe("users' sshKey files", () => {
  it("reads public keys (ed25519, rsa) as authorized_keys lines, ~ as the home directory", () => {
    expect(readPublicKeys("alice", `${alice}.pub`)).toEqual([fs.readFileSync(`${alice}.pub`, "utf8").trim()]);
    expect(readPublicKeys("bob", "~/bob.pub", dir)[0]).toMatch(/^ssh-rsa AAAA\S+ bob@test$/);
    expect(renderAuthorizedKeys({ alice: ["ssh-ed25519 AAAA x"], bob: [] })).toBe("alice ssh-ed25519 AAAA x\n");
  });

  it.each([
    ["a private key, never quoting it", () => alice, /user alice: sshKey=.*alice is a private key; give the public key .*a private key is never uploaded/],
    ["a file that does not exist", () => path.join(dir, "missing.pub"), /user alice: sshKey=.*missing\.pub does not exist/],
    ["a file that is not a key", () => path.join(dir, "notakey.pub"), /user alice: sshKey=.*notakey\.pub is not an OpenSSH public key file/],
    ["a key whose blob names another type", () => path.join(dir, "mismatch.pub"), /is not an OpenSSH public key file/],
    ["a directory", () => dir, /is not a file/],
  ])("refuses %s, before anything is created", async (_what, file, message) => {
    const run = await runWithMocks("ubuntu", [usersWith(file())]);
    expect(run.error?.message).toMatch(/The stack config is not valid; nothing was created/);
    expect(run.error?.message).toMatch(message);
    expect(run.error?.message).not.toMatch(/PRIVATE KEY|b3BlbnNzaC1rZXktdjE/);
    expect(run.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
  });

  it("accepts a user without a key (who then cannot log in) and gives the keys to LinuxUsers only", async () => {
    const run = await runWithMocks("ubuntu", [`users=alice uid=1001 account=research sshKey=${alice}.pub\ncarol uid=1003 account=research`]);
    expect(run.error).toBeUndefined();
    const users = run.registrations.find((r) => r.type.endsWith("LinuxUsers"));
    const aliceLine = fs.readFileSync(`${alice}.pub`, "utf8").trim();
    expect(users?.inputs.authorizedKeys).toBe(`alice ${aliceLine}\n`);
    expect(users?.inputs.containers).toContain("slurm-ubuntu-login");
  });
});

describe("the login node", () => {
  it("is a container of the login image with sshd's port on 127.0.0.1:2222 and a host key from tls.PrivateKey", async () => {
    const run = await runWithMocks("ubuntu", []);
    expect(run.error).toBeUndefined();
    const key = run.registrations.find((r) => r.type === "tls:index/privateKey:PrivateKey");
    expect(key?.inputs).toMatchObject({ algorithm: "ED25519" });
    const login = run.registrations.find((r) => r.type === "docker:index/container:Container" && r.inputs.name === "slurm-ubuntu-login");
    expect(login?.inputs).toMatchObject({ command: ["login"], hostname: "login", ports: [{ internal: 22, external: 2222, ip: "127.0.0.1", protocol: "tcp" }] });
    expect(String(login?.inputs.image)).toMatch(/^slurm-cluster\/slurm-login:/);
    // The uploads carry secrets (munge key, host key), so they arrive as one secret value.
    const uploads = login?.inputs.uploads as { value: { file: string }[] };
    const files = uploads.value.map((u) => u.file);
    expect(files).toEqual(expect.arrayContaining(["/etc/ssh/ssh_host_ed25519_key", "/etc/munge/munge.key", "/opt/slurm-cluster/job-templates/hello-nodes.sbatch"]));
    expect(run.outputs.login).toMatchObject({ host: "127.0.0.1", port: 2222, sshCommand: "ssh -p 2222 alice@127.0.0.1" });
    expect(String(run.outputs.login && (run.outputs.login as { hostKey: string }).hostKey)).toMatch(/^ssh-ed25519 \S+$/);
  });

  it("is published on advertiseAddress when the stack sets one, on loginPort", async () => {
    const spec = await testSpec({ "slurm-cluster:advertiseAddress": "192.168.1.10", "slurm-cluster:loginPort": "2022" }, "test");
    expect(spec.login).toMatchObject({ bindAddress: "192.168.1.10", port: 2022, container: "slurm-test-login" });
  });

  it.each([
    ["restPort's", ["loginPort=6820"], /slurm-cluster:restPort = "6820": expected a port no other service of the stack publishes \(in use by slurm-cluster:loginPort\)/],
    ["Prometheus's", ["monitoring=true", "prometheusPort=2222"], /slurm-cluster:(loginPort|prometheusPort) = "2222": expected a port no other service .*(prometheusPort|loginPort)/],
    ["slurmctld's on advertiseAddress", ["advertiseAddress=192.168.1.10", "loginPort=6817"], /slurm-cluster:loginPort = "6817": expected a port slurmctld \(6817\) and srun/],
  ])("refuses a loginPort clashing with %s port", async (_what, overrides, message) => {
    const run = await runWithMocks("ubuntu", overrides);
    expect(run.error?.message).toMatch(message);
    expect(run.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
  });
});

describe("privacy between users", () => {
  it("slurm.conf hides jobs, usage, users, accounts and reservations from other users", async () => {
    expect(renderSlurmConf(await testSpec({}, "test"))).toMatch(/^PrivateData=accounts,jobs,reservations,usage,users$/m);
  });

  it("makes the Slurm exporter's user an operator (it must see every job), submitting nothing", async () => {
    const run = await runWithMocks("ubuntu", ["monitoring=true"]);
    const exporter = run.registrations.find((r) => r.name === "user-slurm-exporter");
    expect(exporter?.inputs.settings).toEqual({ account: "root", defaultaccount: "root", adminlevel: "Operator", maxsubmitjobs: "0" });
    const off = await runWithMocks("ubuntu", ["monitoring=false"]);
    expect(off.registrations.find((r) => r.name === "user-slurm-exporter")).toBeUndefined();
  });
});

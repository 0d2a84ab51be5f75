// Issue #20's smaller items: what each container keeps, runs as and reads, from the images'
// scripts and the stack's wiring (the e2e suite shows the daemons still start with them).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { validateClusterConfig } from "../../config/parse";
import { PROJECT_ROOT } from "../../local-runner/program";
import { ALERT_WEBHOOK_ENV, readStackConfig } from "../../local-runner/stack-config";
import { CONTAINER, isWireSecret, ofType, runWithMocks } from "./harness";

const image = (...parts: string[]) => fs.readFileSync(path.join(PROJECT_ROOT, "shared", "images", ...parts), "utf8");
/** A shell function's body from a script (from `name() {` to the next line that is `}`). */
const shellFunction = (script: string, name: string) => script.match(new RegExp(`^${name}\\(\\) \\{\\n([\\s\\S]*?)\\n\\}$`, "m"))?.[1] ?? "";
/** The lines of a `case` branch of the entrypoint (from `  role)` to its `;;`). */
const roleBranch = (script: string, role: string) => script.match(new RegExp(`^  ${role}\\)\\n([\\s\\S]*?)\\n    ;;$`, "m"))?.[1] ?? "";

describe("munge", () => {
  const entrypoint = image("slurm", "entrypoint.sh");

  it("runs with its own permission checks: no --force, and the key's directories are munge's, 0700", () => {
    const start = shellFunction(entrypoint, "start_munge");
    expect(start).toMatch(/runuser -u munge -- \/usr\/sbin\/munged\s*$/m);
    expect(entrypoint).not.toMatch(/munged[^\n]*(--force|\s-f\b)/);
    const install = shellFunction(entrypoint, "install_munge_key");
    expect(install).toMatch(/install -d -o munge -g munge -m 0700 \/etc\/munge \/var\/lib\/munge \/var\/log\/munge/);
    expect(install).toContain("chown munge:munge /etc/munge/munge.key");
    expect(install).toContain("chmod 0400 /etc/munge/munge.key");
  });
});

describe("Slurm exporter", () => {
  it("runs as its own system user, one uid on every container (the controller knows it as a Slurm operator), not as SlurmUser or root", () => {
    const branch = roleBranch(image("slurm", "entrypoint.sh"), "exporter");
    expect(branch).toMatch(/exec runuser -u slurm-exporter -- node \/opt\/slurm-exporter\/server.js/);
    expect(branch).not.toMatch(/runuser -u slurm --/);
    expect(image("slurm", "Dockerfile")).toMatch(/^ && useradd --system --uid 61000 --no-create-home --shell \/usr\/sbin\/nologin slurm-exporter$/m);
  });
});

describe("accounting database", () => {
  it("removes the init file (with the password) once mariadbd answers, in a watcher tini reaps", () => {
    const script = image("mariadb", "entrypoint.sh");
    const watcher = script.match(/^\( \(\n([\s\S]*?)\n\) & \)$/m)?.[1] ?? "";
    expect(watcher).toMatch(/mariadb-admin --protocol=socket ping[\s\S]*rm -f "\$init"/);
    expect(watcher).toMatch(/for _ in \$\(seq 1 \d+\)/); // bounded
    expect(script.indexOf(watcher)).toBeLessThan(script.indexOf("exec mariadbd"));
    expect(image("mariadb", "Dockerfile")).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "\/usr\/local\/sbin\/database-entrypoint"\]$/m);
  });
});

describe("the accounting user's grant", () => {
  const script = image("mariadb", "entrypoint.sh");
  // The entrypoint's own function, run by bash as the container runs it.
  const grantHost = (cidr: string) => {
    const fn = script.match(/^grant_host\(\) \{\n[\s\S]*?\n\}$/m)![0];
    return execFileSync("bash", ["-c", `${fn}\ngrant_host "$1"`, "grant_host", cidr], { encoding: "utf8" }).trim();
  };

  it("names the accounting network's range, in MariaDB's network/netmask form", () => {
    expect(grantHost("172.20.5.7/24")).toBe("172.20.5.0/255.255.255.0");
    expect(grantHost("172.18.0.2/16")).toBe("172.18.0.0/255.255.0.0");
    expect(grantHost("10.1.2.19/28")).toBe("10.1.2.16/255.255.255.240");
    expect(grantHost("192.168.255.254/30")).toBe("192.168.255.252/255.255.255.252");
  });

  it("reads the range from the container's one network at every start, refusing more than one, and listens there only", () => {
    expect(script).toMatch(/ip -o -4 addr show scope global/);
    expect(script).toMatch(/if \[ "\$\{#addresses\[@\]\}" -ne 1 \]; then[\s\S]*?exit 1/);
    expect(script).toMatch(/exec mariadbd .*--bind-address="\$listen"$/m);
    expect(image("mariadb", "Dockerfile")).toMatch(/ iproute2/);
  });

  it("grants the user to that range and the socket only, and drops the grant to every host", () => {
    const sql = script.match(/<<SQL\n([\s\S]*?)\nSQL$/m)![1];
    const hosts = [...sql.matchAll(/TO '\$user'@'([^']+)'/g)].map((m) => m[1]);
    expect(hosts).toEqual(["$client", "localhost"]);
    expect(sql).toContain("DROP USER IF EXISTS '$user'@'%';");
    expect(sql).not.toMatch(/CREATE USER[^;]*'%'/);
  });
});

describe("Grafana's admin password file", () => {
  it("is readable by Grafana's group (root, the image's GF_GID) and no one else, and secret", async () => {
    const run = await runWithMocks("ubuntu");
    const grafana = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-grafana")!;
    expect(isWireSecret(grafana.inputs.uploads)).toBe(true);
    const upload = grafana.inputs.uploads.value.find((u: { file: string }) => u.file === "/etc/grafana/admin-password");
    expect(upload.permissions).toBe("0440");
    // The image's user (472, primary group 0) reads it through the group: no user override.
    expect(grafana.inputs.user).toBeUndefined();
  });
});

describe("alertWebhookUrl as a secret", () => {
  const alertmanager = async (overrides: string[]) =>
    ofType(await runWithMocks("ubuntu", overrides), CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-alertmanager")!.inputs;

  it("keeps the rendered alertmanager.yml secret when it names a webhook", async () => {
    const withHook = await alertmanager(["alertWebhookUrl=https://chat.example/hook?token=s3cr3t"]);
    expect(isWireSecret(withHook.uploads)).toBe(true);
    expect(JSON.stringify(withHook.uploads.value)).toContain("token=s3cr3t");
  });

  it("leaves it plain without one", async () => {
    expect(isWireSecret((await alertmanager([])).uploads)).toBe(false);
  });

  it("does not quote a bad value in the config error", () => {
    expect(() => validateClusterConfig({ "slurm-cluster:alertWebhookUrl": "ftp://x/token=s3cr3t" })).toThrow(/alertWebhookUrl = \(secret, not shown\): expected an http\(s\) URL/);
    try {
      validateClusterConfig({ "slurm-cluster:alertWebhookUrl": "ftp://x/token=s3cr3t" });
    } catch (err) {
      expect(String((err as Error).message)).not.toContain("s3cr3t");
    }
  });

  describe("in the local runner, which cannot decrypt secure values", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "sc-secure-"));
    fs.copyFileSync(path.join(PROJECT_ROOT, "Pulumi.yaml"), path.join(root, "Pulumi.yaml"));
    fs.writeFileSync(path.join(root, "Pulumi.lab.yaml"), "config:\n  slurm-cluster:alertWebhookUrl:\n    secure: v1:AAAA\n");
    afterEach(() => delete process.env[ALERT_WEBHOOK_ENV]);

    it("takes the webhook from SLURM_CLUSTER_ALERT_WEBHOOK_URL", () => {
      process.env[ALERT_WEBHOOK_ENV] = "https://chat.example/hook?token=s3cr3t";
      expect(readStackConfig("lab", [], root)["slurm-cluster:alertWebhookUrl"]).toBe("https://chat.example/hook?token=s3cr3t");
    });

    it("without it, says which variable to set", () => {
      expect(() => readStackConfig("lab", [], root)).toThrow(/alertWebhookUrl is a secure value, which only the Pulumi CLI can decrypt; give the runner its value in SLURM_CLUSTER_ALERT_WEBHOOK_URL/);
    });

    it("leaves it out for a reader that needs no secret (the operator CLI on the Pulumi path)", () => {
      const config = readStackConfig("lab", [], root, "omit");
      expect(config["slurm-cluster:alertWebhookUrl"]).toBe("");
      expect(config["slurm-cluster:workerCount"]).toBe("2");
    });
  });
});

// Upgrades of slurmRelease: what a change means (config/upgrade.ts), how the program learns the
// running release from the engine, the order `up` replaces things in, and the backup's fallback.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ClusterConfigError } from "../../config";
import { RELEASES_READ_BACK, planReleaseChange, releaseOfImage, releaseSteps, slurmConfForRelease } from "../../config/upgrade";
import { backupBeforeUpgrade } from "../../stacks/upgrade";
import { CONTAINER, ofType, runWithMocks } from "./harness";
import { DEFAULT_FACTS } from "./fake-engine";
import { engineReporting, testSpec } from "./spec";

const DRAIN = "pulumi-nodejs:dynamic/slurm-cluster:UpgradeDrain";
const REGISTRATION = "pulumi-nodejs:dynamic/slurm-cluster:NodeRegistration";
const running = (image: string) => ({ ...engineReporting(2), containerImage: async () => image });

describe("a change of slurmRelease", () => {
  it("reads the release from a project image's tag, and nothing from another image", () => {
    expect(releaseOfImage("slurm-cluster/slurm:24.11-7f41bcc3045e")).toBe("24.11");
    expect(releaseOfImage("slurm-cluster/slurm-worker:26.05-0123456789ab")).toBe("26.05");
    expect(releaseOfImage("slurm-cluster/slurm:7f41bcc3045e")).toBeUndefined();
    expect(releaseOfImage("debian:trixie-slim")).toBeUndefined();
  });

  it("is an upgrade within Slurm's window, nothing when the release is the same or nothing runs", () => {
    expect(releaseSteps("24.11", "26.05")).toBe(RELEASES_READ_BACK);
    expect(planReleaseChange("24.11", "26.05", "x")).toEqual({ upgrade: { from: "24.11", to: "26.05" } });
    expect(planReleaseChange("26.05", "26.05", "x")).toEqual({});
    expect(planReleaseChange(undefined, "26.05", "x")).toEqual({});
  });

  it("refuses a downgrade, a jump past what Slurm reads back, and a release it does not know, in one line", () => {
    expect(planReleaseChange("26.05", "24.11", "the controller").problem).toMatch(
      /^slurm-cluster:slurmRelease = "24\.11": the controller runs Slurm 26\.05, and Slurm cannot read a newer release's state .* slurm-cluster restore <archive> \(README, Upgrading Slurm\)$/,
    );
    expect(planReleaseChange("23.11", "26.05", "the controller").problem).toMatch(/runs Slurm 23\.11, 5 major releases older; .* upgrade to 25\.05 first; nothing was changed$/);
    expect(planReleaseChange("21.08", "26.05", "the controller").problem).toMatch(/does not know how to upgrade from; nothing was changed$/);
  });

  it("is found by asking the engine which image the controller runs: an upgrade, or a downgrade refused before anything", async () => {
    await expect(testSpec({ "slurm-cluster:slurmRelease": "26.05" }, "ubuntu", running("slurm-cluster/slurm:24.11-7f41bcc3045e"))).resolves.toMatchObject({
      upgrade: { from: "24.11", to: "26.05" },
    });
    const same = await testSpec({}, "ubuntu", running("slurm-cluster/slurm:24.11-7f41bcc3045e"));
    expect(same.upgrade).toBeUndefined();
    const down = testSpec({}, "ubuntu", running("slurm-cluster/slurm:26.05-0123456789ab"));
    await expect(down).rejects.toThrow(ClusterConfigError);
    await expect(down).rejects.toThrow(/slurmRelease = "24\.11": the stack's controller \(slurm-ubuntu-controller\) runs Slurm 26\.05/);
  });
});

describe("a workers stack behind its controller's release", () => {
  const conf = "ClusterName=ubuntu\nPrivateData=jobs\nMetricsType=metrics/openmetrics\nMetricsAuthUsers=slurm-exporter\nSlurmctldHttpAuthParameters=jwt_key=/etc/slurm/k\nNodeName=x\n";

  it("gets the cluster's slurm.conf without the keys its slurmd would refuse", () => {
    expect(slurmConfForRelease(conf, "24.11")).toBe("ClusterName=ubuntu\nPrivateData=jobs\nNodeName=x\n");
  });

  it("gets it byte for byte on the controller's release", () => {
    expect(slurmConfForRelease(conf, "26.05")).toBe(conf);
  });
});

describe("an up that upgrades the ubuntu stack (preview of 24.11 -> 26.05)", () => {
  let byName: Record<string, { started: number; finished: number; inputs: Record<string, unknown> }>;
  let drains: { started: number; finished: number; inputs: Record<string, unknown> }[];
  let checks: { started: number; finished: number; inputs: Record<string, unknown> }[];
  beforeAll(async () => {
    const engine = { ...DEFAULT_FACTS, containers: { "slurm-ubuntu-controller": "slurm-cluster/slurm:24.11-7f41bcc3045e" } };
    const run = await runWithMocks("ubuntu", ["slurmRelease=26.05", "workerCount=3", "upgradeBatchSize=2"], true, engine);
    expect(run.error).toBeUndefined();
    byName = Object.fromEntries(ofType(run, CONTAINER).map((c) => [c.inputs.name, c]));
    drains = run.registrations.filter((r) => r.type === DRAIN).sort((a, b) => String(a.inputs.nodeName).localeCompare(String(b.inputs.nodeName)));
    checks = run.registrations.filter((r) => r.type === REGISTRATION).sort((a, b) => String(a.inputs.nodeName).localeCompare(String(b.inputs.nodeName)));
  });

  it("replaces slurmdbd before slurmctld, and drains each worker only after the new slurmctld answers", () => {
    const ctl = byName["slurm-ubuntu-controller"];
    expect(ctl.started).toBeGreaterThan(byName["slurm-ubuntu-slurmdbd"].finished);
    for (const drain of drains) {
      expect(drain.inputs).toMatchObject({ release: "26.05", upgrading: true, scontrolContainer: "slurm-ubuntu-controller" });
      expect(drain.started).toBeGreaterThan(ctl.finished);
      expect(byName[`slurm-ubuntu-${drain.inputs.nodeName}`].started).toBeGreaterThan(drain.finished);
    }
  });

  it("goes a batch at a time: the next batch's drains wait until the batch before registered", () => {
    const [w1, w2, w3] = checks;
    expect(drains.map((d) => d.inputs.nodeName)).toEqual(["worker1", "worker2", "worker3"]);
    // worker1 and worker2 are one batch (upgradeBatchSize=2): side by side.
    expect(drains[1].started).toBeLessThan(w1.finished);
    expect(drains[2].started).toBeGreaterThan(Math.max(w1.finished, w2.finished));
    expect(w3.finished).toBeGreaterThan(drains[2].finished);
  });

  it("replaces REST, login and monitoring after every worker is back", () => {
    const lastCheck = Math.max(...checks.map((c) => c.finished));
    for (const name of ["slurm-ubuntu-rest", "slurm-ubuntu-login", "slurm-ubuntu-prometheus", "slurm-ubuntu-slurm-exporter"]) {
      expect({ name, afterWorkers: byName[name].started > lastCheck }).toEqual({ name, afterWorkers: true });
    }
  });

  it("without an upgrade, the gates ask nothing and the workers start beside the controller", async () => {
    const run = await runWithMocks("ubuntu");
    const ctl = ofType(run, CONTAINER).find((c) => c.inputs.name === "slurm-ubuntu-controller")!;
    const gates = run.registrations.filter((r) => r.type === DRAIN);
    expect(gates.map((g) => g.inputs.upgrading)).toEqual([false, false]);
    for (const gate of gates) expect(gate.started).toBeLessThan(ctl.finished);
  });
});

describe("the backup an upgrade starts with", () => {
  const spec = async () => ({ ...(await testSpec({ "slurm-cluster:slurmRelease": "26.05", "docker:host": "unix:///nonexistent/docker.sock" })), upgrade: { from: "24.11", to: "26.05" as const } });

  it("stops the upgrade, nothing changed, when it fails and no earlier attempt made one", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "upgrade-backup-"));
    await expect(backupBeforeUpgrade(await spec(), () => undefined, dir)).rejects.toThrow(/^the backup before upgrading Slurm 24\.11 to 26\.05 failed, so nothing was changed: /);
  });

  it("goes on with the backup an earlier attempt of the same upgrade made, saying so", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "upgrade-backup-"));
    const archive = path.join(dir, "slurm-cluster-ubuntu-20261202T192101Z.tar.gz");
    fs.writeFileSync(archive, "x");
    fs.writeFileSync(path.join(dir, "upgrade-ubuntu-24.11-to-26.05.json"), JSON.stringify({ file: archive, at: "2026-12-02T19:21:01Z" }));
    const lines: string[] = [];
    await expect(backupBeforeUpgrade(await spec(), (l) => lines.push(l), dir)).resolves.toBe(archive);
    expect(lines.at(-1)).toMatch(/^backing up again failed \(.*\); this upgrade's earlier attempt made .*20261202T192101Z\.tar\.gz at 2026-12-02T19:21:01Z: going on with it as the way back$/);
    // A record whose archive is gone does not count.
    fs.rmSync(archive);
    await expect(backupBeforeUpgrade(await spec(), () => undefined, dir)).rejects.toThrow(/nothing was changed/);
  });
});

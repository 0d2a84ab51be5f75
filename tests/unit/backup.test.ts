// Backup archives without a cluster: what goes in, and every archive restore must refuse
// (truncated, corrupted, not a backup, another cluster, another Slurm release, a cluster with jobs).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { gunzipSync, gzipSync } from "zlib";
import { Manifest, packArchive, readArchive, restoreRefusal, slurmRelease } from "../../cli/backup";

const base = {
  format: 1,
  clusterName: "ubuntu",
  stack: "ubuntu",
  slurmVersion: "24.11.5",
  createdAt: "2026-11-30T04:00:00.000Z",
  jobs: 21,
  lastJobId: 21,
  secrets: "none",
};
const files = { "accounting.sql": Buffer.from("INSERT INTO ubuntu_job_table VALUES (1);\n"), "slurmctld-state.tar": Buffer.alloc(2048, 7), "config/slurm.conf": Buffer.from("ClusterName=ubuntu\n") };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sc-backup-"));

async function archive(name: string, bytes?: Buffer): Promise<string> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes ?? (await packArchive(base, files)));
  return file;
}

it("round-trips every file with a manifest of checksums and no secret", async () => {
  const { manifest, files: back } = await readArchive(await archive("good.tar.gz"));
  expect(back).toEqual(files);
  expect(manifest.files["accounting.sql"]).toEqual({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/), bytes: files["accounting.sql"].length });
  expect(manifest).toMatchObject({ clusterName: "ubuntu", slurmVersion: "24.11.5", jobs: 21, lastJobId: 21 });
});

it("refuses a truncated archive with one line and changes nothing", async () => {
  const whole = fs.readFileSync(await archive("whole.tar.gz"));
  const file = await archive("truncated.tar.gz", whole.subarray(0, Math.floor(whole.length / 2)));
  await expect(readArchive(file)).rejects.toThrow(/truncated.tar.gz is truncated or not a slurm-cluster backup \(unexpected end of file\); nothing changed/);
});

it("refuses an archive whose file does not match its checksum", async () => {
  const tarBytes = gunzipSync(await packArchive(base, files));
  const at = tarBytes.indexOf(Buffer.from("INSERT INTO"));
  tarBytes[at] = "X".charCodeAt(0); // one byte of the dump changed, sizes the same
  const file = await archive("corrupt.tar.gz", gzipSync(tarBytes));
  await expect(readArchive(file)).rejects.toThrow(/corrupt.tar.gz is corrupted: accounting.sql does not match its checksum in the manifest; nothing changed/);
});

it("refuses a tar.gz that is not a backup", async () => {
  const file = await archive("other.tar.gz", gzipSync(Buffer.alloc(1024)));
  await expect(readArchive(file)).rejects.toThrow(/has no manifest.json: not a slurm-cluster backup/);
});

it("restores only into the same cluster name and Slurm release, and into a cluster with jobs only when forced", () => {
  const m = { ...base, files: {} } as Manifest;
  expect(slurmRelease("24.11.5")).toBe("24.11");
  expect(restoreRefusal(m, { clusterName: "ubuntu", slurmVersion: "24.11.6" }, 0, false)).toBeUndefined();
  expect(restoreRefusal(m, { clusterName: "lab", slurmVersion: "24.11.5" }, 0, false)).toMatch(/^the archive is of cluster ubuntu, this stack's cluster is lab/);
  expect(restoreRefusal(m, { clusterName: "ubuntu", slurmVersion: "25.05.1" }, 0, false)).toMatch(/^the archive is from Slurm 24.11.5, the stack runs 25.05.1: restore into a stack of Slurm 24.11/);
  expect(restoreRefusal(m, { clusterName: "ubuntu", slurmVersion: "24.11.5" }, 3, false)).toMatch(/already has 3 job\(s\) in accounting.*pass --force/);
  expect(restoreRefusal(m, { clusterName: "ubuntu", slurmVersion: "24.11.5" }, 3, true)).toBeUndefined();
});

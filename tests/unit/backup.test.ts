// Backup archives without a cluster: what goes in, and every archive restore must refuse
// (truncated, corrupted, not a backup, unsigned or signed with another key, another cluster,
// another Slurm release, a cluster with jobs, a state copy that would write outside its directory).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { gunzipSync, gzipSync } from "zlib";
import * as tar from "tar-stream";
import { Manifest, packArchive, readArchive, loadDumpCommand, restoreRefusal, stateArchiveProblem } from "../../cli/backup";
import { releaseOfVersion } from "../../config/upgrade";
import { backupKey, backupKeyDir } from "../../cli/backup-key";

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
const key = Buffer.alloc(32, 9);
const keyFor = () => key;

async function archive(name: string, bytes?: Buffer): Promise<string> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes ?? (await packArchive(base, files, key)));
  return file;
}

it("round-trips every file with a manifest of checksums and no secret", async () => {
  const { manifest, files: back } = await readArchive(await archive("good.tar.gz"), keyFor);
  expect(back).toEqual(files);
  expect(manifest.files["accounting.sql"]).toEqual({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/), bytes: files["accounting.sql"].length });
  expect(manifest).toMatchObject({ clusterName: "ubuntu", slurmVersion: "24.11.5", jobs: 21, lastJobId: 21 });
});

it("refuses a truncated archive with one line and changes nothing", async () => {
  const whole = fs.readFileSync(await archive("whole.tar.gz"));
  const file = await archive("truncated.tar.gz", whole.subarray(0, Math.floor(whole.length / 2)));
  await expect(readArchive(file, keyFor)).rejects.toThrow(/truncated.tar.gz is truncated or not a slurm-cluster backup \(unexpected end of file\); nothing changed/);
});

it("refuses an archive whose file does not match its checksum", async () => {
  const tarBytes = gunzipSync(await packArchive(base, files, key));
  const at = tarBytes.indexOf(Buffer.from("INSERT INTO"));
  tarBytes[at] = "X".charCodeAt(0); // one byte of the dump changed, sizes the same
  const file = await archive("corrupt.tar.gz", gzipSync(tarBytes));
  await expect(readArchive(file, keyFor)).rejects.toThrow(/corrupt.tar.gz is corrupted: accounting.sql does not match its checksum in the manifest; nothing changed/);
});

it("refuses a tar.gz that is not a backup", async () => {
  const file = await archive("other.tar.gz", gzipSync(Buffer.alloc(1024)));
  await expect(readArchive(file, keyFor)).rejects.toThrow(/has no manifest.json: not a slurm-cluster backup/);
});

it("restores only into the same cluster name and Slurm release, and into a cluster with jobs only when forced", () => {
  const m = { ...base, files: {} } as Manifest;
  expect(releaseOfVersion("24.11.5")).toBe("24.11");
  expect(restoreRefusal(m, { clusterName: "ubuntu", slurmVersion: "24.11.6" }, 0, false)).toBeUndefined();
  expect(restoreRefusal(m, { clusterName: "lab", slurmVersion: "24.11.5" }, 0, false)).toMatch(/^the archive is of cluster ubuntu, this stack's cluster is lab/);
  expect(restoreRefusal(m, { clusterName: "ubuntu", slurmVersion: "25.05.1" }, 0, false)).toMatch(/^the archive is from Slurm 24.11.5, the stack runs 25.05.1: restore into a stack of Slurm 24.11/);
  expect(restoreRefusal(m, { clusterName: "ubuntu", slurmVersion: "24.11.5" }, 3, false)).toMatch(/already has 3 job\(s\) in accounting.*pass --force/);
  expect(restoreRefusal(m, { clusterName: "ubuntu", slurmVersion: "24.11.5" }, 3, true)).toBeUndefined();
});

type TarEntry = Partial<tar.Header> & { name: string };

/** A tar of the given entries, as tar-stream writes them. */
async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type === "file" || e.type === undefined) pack.entry(e, Buffer.from("x"));
    else pack.entry(e);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe("signed backups", () => {
  it("refuses an unsigned archive", async () => {
    const tarBytes = gunzipSync(await packArchive(base, files, key));
    // The same archive without its manifest.sig entry (its 512-byte header and one block of body).
    const at = tarBytes.indexOf(Buffer.from("manifest.sig"));
    const unsigned = Buffer.concat([tarBytes.subarray(0, at), tarBytes.subarray(at + 1024)]);
    const file = await archive("unsigned.tar.gz", gzipSync(unsigned));
    await expect(readArchive(file, keyFor)).rejects.toThrow(/unsigned.tar.gz is not signed \(no manifest.sig\): restore loads only backups signed with the stack's backup key; nothing changed/);
  });

  it("refuses an archive signed with another key", async () => {
    const file = await archive("other-key.tar.gz", await packArchive(base, files, Buffer.alloc(32, 1)));
    await expect(readArchive(file, keyFor)).rejects.toThrow(/other-key.tar.gz was altered or signed with another key: its manifest does not match its signature for stack ubuntu; nothing changed/);
  });

  it("refuses a manifest altered after signing, its checksums still matching the files", async () => {
    const tarBytes = gunzipSync(await packArchive(base, files, key));
    const at = tarBytes.indexOf(Buffer.from('"clusterName": "ubuntu"'));
    tarBytes.write('"clusterName": "lab123"', at); // same length: the tar stays valid, only the signature can tell
    const file = await archive("altered.tar.gz", gzipSync(tarBytes));
    await expect(readArchive(file, keyFor)).rejects.toThrow(/altered.tar.gz was altered or signed with another key/);
  });

  it("checks with the key of the stack the manifest names", async () => {
    const asked: string[] = [];
    const file = await archive("lab.tar.gz", await packArchive({ ...base, stack: "lab" }, files, key));
    await readArchive(file, (stack) => (asked.push(stack), key));
    expect(asked).toEqual(["lab"]);
  });

  it("keeps one key per stack in the user's config directory, 0600, made by a backup only", () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "sc-keys-"));
    const keys = backupKeyDir({ XDG_CONFIG_HOME: home });
    expect(keys).toBe(path.join(home, "slurm-cluster", "backup-keys"));
    expect(() => backupKey("ubuntu", false, keys)).toThrow(/^no backup key for stack ubuntu at .*ubuntu.key: the archive's signature cannot be checked .*; nothing changed$/);
    const made = backupKey("ubuntu", true, keys);
    expect(made).toHaveLength(32);
    expect(fs.statSync(path.join(keys, "ubuntu.key")).mode & 0o777).toBe(0o600);
    expect(backupKey("ubuntu", false, keys)).toEqual(made);
    expect(backupKey("macos", true, keys)).not.toEqual(made);
    expect(() => backupKey("../ubuntu", false, keys)).toThrow(/names stack "..\/ubuntu", which is not a stack name/);
    fs.chmodSync(path.join(keys, "ubuntu.key"), 0o644);
    expect(() => backupKey("ubuntu", false, keys)).toThrow(/ubuntu.key can be read by others: chmod 600 it/);
  });
});

describe("the state copy restore unpacks into the controller (as root, by docker cp)", () => {
  it("passes regular files and directories under slurmctld/", async () => {
    const ok = await tarOf([{ name: "slurmctld/", type: "directory" }, { name: "slurmctld/job_state" }, { name: "slurmctld/hash.3/job.21/script" }]);
    expect(await stateArchiveProblem(ok)).toBeUndefined();
  });

  it.each([
    [[{ name: "slurmctld/job_state", type: "symlink", linkname: "/etc/munge/munge.key" }], /slurmctld\/job_state is a symlink/],
    [[{ name: "slurmctld/job_state", type: "link", linkname: "slurmctld/x" }], /slurmctld\/job_state is a link/],
    [[{ name: "slurmctld/../../../etc/passwd" }], /slurmctld\/\.\.\/\.\.\/\.\.\/etc\/passwd is outside slurmctld\//],
    [[{ name: "etc/cron.d/x" }], /etc\/cron.d\/x is outside slurmctld\//],
    [[{ name: "slurmctld/tty", type: "character-device" }], /slurmctld\/tty is a character-device/],
  ] as [TarEntry[], RegExp][])("refuses %j", async (entries, problem) => {
    const why = await stateArchiveProblem(await tarOf(entries));
    expect(why).toMatch(problem);
    expect(why).toMatch(/only regular files and directories under slurmctld\/ are restored$/);
  });
});

it("loads the dump as the accounting user, not the database's root, the password kept off the command line", () => {
  const [shell, flag, script, ...args] = loadDumpCommand("slurm_acct_db");
  expect([shell, flag, args]).toEqual(["sh", "-c", ["load", "slurm_acct_db"]]);
  expect(script).toMatch(/^MYSQL_PWD="\$\(cat \/etc\/slurm-cluster\/database-password\)" exec mariadb -u "\$\(cat \/etc\/slurm-cluster\/database-user\)" "\$1"$/);
});

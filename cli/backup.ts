// Backup and restore of a cluster's history: one .tar.gz holding a dump of the accounting
// database, slurmctld's state directory (queue, job id sequence, node records, unsent accounting
// messages), the rendered Slurm config, and a manifest with checksums. No secret goes in: the
// munge key, the database password and the JWT key belong to the stack (a restored stack keeps
// its own), and neither the dump (the accounting database only) nor the state holds them.
//
// Consistency: slurmctld is stopped for the copy (docker stop: it saves its state on SIGTERM and
// its queue of unsent accounting messages with it), so state and database describe the same
// moment; slurmdbd writes only what slurmctld sends. The workers and their running jobs go on;
// jobs cannot be submitted for those few seconds. mariadb-dump --single-transaction takes a
// consistent dump without locking.
import { createHash, createHmac, timingSafeEqual } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { gunzipSync, gzipSync } from "zlib";
import * as tar from "tar-stream";
import { accountingSummary } from "./accounting-db";
import { backupKey } from "./backup-key";
import { Cluster, ClusterDaemons, onController } from "./cluster";
import { CliError } from "./errors";
import { PollTimeout, poll } from "./poll";
import { ROLE_LABEL } from "../config/spec";
import { releaseOfVersion } from "../config/upgrade";

const STATE_DIR = "/var/lib/slurm/slurmctld";
const FORMAT = 1;
/** Files of /etc/slurm that go into a backup; slurmdbd.conf (the database password) and the JWT key stay out. */
const CONFIG_FILES = ["slurm.conf", "cgroup.conf", "gres.conf"];

export interface Manifest {
  format: number;
  clusterName: string;
  stack: string;
  slurmVersion: string;
  createdAt: string;
  /** Jobs in accounting and the highest job id at the time of the backup. */
  jobs: number;
  lastJobId: number;
  /** sha256 and size of every other file in the archive. */
  files: Record<string, { sha256: string; bytes: number }>;
  secrets: string;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** The archive's signature: HMAC-SHA256 of manifest.json's bytes (which hold every file's sha256). */
const SIGNATURE_FILE = "manifest.sig";
const signature = (manifestBytes: Buffer, key: Buffer) => `hmac-sha256:${createHmac("sha256", key).update(manifestBytes).digest("hex")}\n`;

/** The archive's bytes from its files: manifest.json and its signature first, then the files it lists. */
export async function packArchive(manifest: Omit<Manifest, "files">, files: Record<string, Buffer>, key: Buffer): Promise<Buffer> {
  const full: Manifest = {
    ...manifest,
    files: Object.fromEntries(Object.entries(files).map(([name, b]) => [name, { sha256: sha256(b), bytes: b.length }])),
  };
  const pack = tar.pack();
  const manifestBytes = Buffer.from(JSON.stringify(full, null, 2) + "\n");
  const entries = { "manifest.json": manifestBytes, [SIGNATURE_FILE]: Buffer.from(signature(manifestBytes, key)), ...files };
  for (const [name, body] of Object.entries(entries)) pack.entry({ name, mode: 0o600, mtime: new Date(manifest.createdAt) }, body);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

/**
 * Reads and verifies an archive: readable, a manifest signed with the key of the stack it names
 * (`keyFor`), every file present with its checksum.
 */
export async function readArchive(file: string, keyFor: (stack: string) => Buffer): Promise<{ manifest: Manifest; files: Record<string, Buffer> }> {
  let raw: Buffer;
  try {
    raw = gunzipSync(fs.readFileSync(file));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ENOENT") throw new CliError(`no archive ${file}`, 2);
    throw new CliError(`${file} is truncated or not a slurm-cluster backup (${e.message}); nothing changed`, 1);
  }
  const entries: Record<string, Buffer> = {};
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => chunks.push(c as Buffer));
      stream.on("end", () => {
        entries[header.name] = Buffer.concat(chunks);
        next();
      });
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  extract.end(raw);
  await done.catch((err: Error) => {
    throw new CliError(`${file} is truncated or not a slurm-cluster backup (${err.message}); nothing changed`, 1);
  });
  const manifestText = entries["manifest.json"];
  if (!manifestText) throw new CliError(`${file} has no manifest.json: not a slurm-cluster backup; nothing changed`, 1);
  const signed = entries[SIGNATURE_FILE];
  if (!signed) throw new CliError(`${file} is not signed (no ${SIGNATURE_FILE}): restore loads only backups signed with the stack's backup key; nothing changed`, 1);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(manifestText.toString()) as Manifest;
  } catch {
    throw new CliError(`${file} has a manifest.json that is not JSON: not a slurm-cluster backup; nothing changed`, 1);
  }
  const expected = Buffer.from(signature(manifestText, keyFor(String(manifest.stack))));
  if (signed.length !== expected.length || !timingSafeEqual(signed, expected)) {
    throw new CliError(`${file} was altered or signed with another key: its manifest does not match its signature for stack ${manifest.stack}; nothing changed`, 1);
  }
  if (manifest.format !== FORMAT) throw new CliError(`${file} is backup format ${manifest.format}; this version reads format ${FORMAT}`, 1);
  const files: Record<string, Buffer> = {};
  for (const [name, expected] of Object.entries(manifest.files)) {
    const body = entries[name];
    if (!body) throw new CliError(`${file} is corrupted: ${name} is missing; nothing changed`, 1);
    if (body.length !== expected.bytes || sha256(body) !== expected.sha256) {
      throw new CliError(`${file} is corrupted: ${name} does not match its checksum in the manifest; nothing changed`, 1);
    }
    files[name] = body;
  }
  return { manifest, files };
}

/** Why an archive cannot go into this cluster, or undefined when it can. */
export function restoreRefusal(manifest: Manifest, cluster: { clusterName: string; slurmVersion: string }, jobsNow: number, force: boolean): string | undefined {
  if (manifest.clusterName !== cluster.clusterName) {
    return `the archive is of cluster ${manifest.clusterName}, this stack's cluster is ${cluster.clusterName}: accounting keys everything by cluster name`;
  }
  if (releaseOfVersion(manifest.slurmVersion) !== releaseOfVersion(cluster.slurmVersion)) {
    return `the archive is from Slurm ${manifest.slurmVersion}, the stack runs ${cluster.slurmVersion}: restore into a stack of Slurm ${releaseOfVersion(manifest.slurmVersion)}`;
  }
  if (jobsNow > 0 && !force) {
    return `the stack's cluster already has ${jobsNow} job(s) in accounting, which a restore replaces: restore into a fresh stack (down --volumes, up) or pass --force`;
  }
  return undefined;
}

/** The names of the stack's containers in these roles, from one listing. */
async function roleContainers<R extends string>(cluster: Pick<Cluster, "engine" | "labels" | "stack">, ...roles: R[]): Promise<Record<R, string>> {
  const containers = await cluster.engine.containers(cluster.labels, ROLE_LABEL);
  const names = {} as Record<R, string>;
  for (const role of roles) {
    const found = containers.find((c) => c.role === role);
    if (!found) throw new CliError(`stack ${cluster.stack} has no ${role} container: bring it up first`, 1);
    names[role] = found.name;
  }
  return names;
}

/** Asks every second until `check` says yes; not in time is the CLI's error (exit 1). */
async function waitFor(what: string, seconds: number, check: () => Promise<boolean>): Promise<void> {
  await poll(what, seconds, async () => ((await check()) ? true : undefined), { intervalMs: 1000 }).catch((err: unknown) => {
    throw err instanceof PollTimeout ? new CliError(err.message, 1) : err;
  });
}

const controllerUp = (cluster: ClusterDaemons) => waitFor("slurmctld answering", 90, async () => /is UP/.test((await onController(cluster, ["scontrol", "ping"])).out));

/** Writes a backup of the cluster into `dir`; resolves to the archive's path. */
export async function backup(cluster: ClusterDaemons, dir: string, progress: (line: string) => void): Promise<string> {
  const controller = cluster.outputs.controller.containerName;
  const { database } = await roleContainers(cluster, "database");
  progress("reading /etc/slurm from the controller");
  const config = await configFiles(cluster);
  const summary = await accountingSummary(cluster);
  progress(`stopping slurmctld so it saves its state (${controller}; the workers and their jobs go on)`);
  await cluster.engine.stop(controller, 30);
  let dump: string;
  let state: Buffer;
  try {
    progress("dumping the accounting database (mariadb-dump --single-transaction)");
    const res = await cluster.engine.run(database, ["mariadb-dump", "--single-transaction", "--skip-lock-tables", cluster.outputs.database.name]);
    if (res.code !== 0) throw new CliError(`mariadb-dump failed: ${res.err.trim()}`, 1);
    dump = res.out;
    progress(`copying ${STATE_DIR}`);
    state = await cluster.engine.copyFrom(controller, STATE_DIR);
  } finally {
    progress("starting slurmctld again");
    await cluster.engine.start(controller);
  }
  await controllerUp(cluster);
  const createdAt = new Date().toISOString();
  const archive = await packArchive(
    {
      format: FORMAT,
      clusterName: cluster.outputs.clusterName,
      stack: cluster.stack,
      slurmVersion: cluster.outputs.slurmVersion,
      createdAt,
      jobs: summary.jobs,
      lastJobId: summary.lastJobId,
      secrets: "none: the munge key, database password and JWT key stay with the stack; a restored stack uses its own",
    },
    { "accounting.sql": Buffer.from(dump), "slurmctld-state.tar": state, ...config },
    backupKey(cluster.stack, true),
  );
  fs.mkdirSync(dir, { recursive: true });
  const file = path.resolve(dir, `slurm-cluster-${cluster.stack}-${createdAt.replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}.tar.gz`);
  fs.writeFileSync(file, archive, { mode: 0o600 });
  return file;
}

async function configFiles(cluster: ClusterDaemons): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {};
  for (const name of CONFIG_FILES) {
    const res = await onController(cluster, ["cat", `/etc/slurm/${name}`]);
    if (res.code === 0) files[`config/${name}`] = Buffer.from(res.out);
  }
  return files;
}

interface RestoreResult {
  jobs: number;
  lastJobId: number;
}

/**
 * Puts an archive's history into the stack's cluster: the database from the dump, slurmctld's
 * state from the copy (both daemons stopped meanwhile), then the workers restarted so each
 * registers with the restored controller. Every check comes first; a refused archive changes nothing.
 */
export async function restore(cluster: Cluster, file: string, force: boolean, progress: (line: string) => void): Promise<RestoreResult> {
  const { manifest, files } = await readArchive(file, (stack) => backupKey(stack, false));
  const unsafe = await stateArchiveProblem(files["slurmctld-state.tar"] ?? Buffer.alloc(0));
  if (unsafe) throw new CliError(`${file}: ${unsafe}; nothing changed`, 1);
  const now = await accountingSummary(cluster);
  const refusal = restoreRefusal(manifest, cluster.outputs, now.jobs, force);
  if (refusal) throw new CliError(`${refusal}; nothing changed`, 1);
  const controller = cluster.outputs.controller.containerName;
  const { slurmdbd, database } = await roleContainers(cluster, "slurmdbd", "database");
  progress("stopping slurmctld and slurmdbd");
  await cluster.engine.stop(controller, 30);
  await cluster.engine.stop(slurmdbd, 30);
  progress(`loading the accounting database (${manifest.jobs} jobs)`);
  // As the accounting user (all privileges on its database, nothing else), not the database's
  // root: the dump can touch only accounting. Its name and password are the container's own files.
  const load = await cluster.engine.run(database, loadDumpCommand(cluster.outputs.database.name), {
    input: files["accounting.sql"].toString(),
  });
  if (load.code !== 0) throw new CliError(`loading the dump failed: ${load.err.trim()} (slurmctld and slurmdbd are stopped: run up --refresh to start them)`, 1);
  progress(`restoring ${STATE_DIR}`);
  await cluster.engine.copyTo(controller, path.posix.dirname(STATE_DIR), files["slurmctld-state.tar"]);
  progress("starting slurmdbd and slurmctld");
  await cluster.engine.start(slurmdbd);
  await cluster.engine.start(controller);
  await controllerUp(cluster);
  progress("restarting the workers so they register with the restored controller");
  for (const node of cluster.outputs.nodes) await cluster.engine.restart(node.containerName);
  const names = cluster.outputs.nodes.map((n) => n.name);
  await waitFor("every worker idle", 120, async () => {
    const out = (await onController(cluster, ["sinfo", "-h", "-N", "-p", "main", "-o", "%N %t"])).out;
    return names.every((n) => new RegExp(`^${n} (idle|mix|alloc)$`, "m").test(out));
  });
  await waitFor("slurmdbd answering", 60, async () => (await onController(cluster, ["sacctmgr", "-n", "show", "cluster"])).code === 0);
  const after = await accountingSummary(cluster);
  return { jobs: after.jobs, lastJobId: after.lastJobId };
}

/**
 * The command (in the database container) that loads a dump from stdin: mariadb as the accounting
 * user, its name and password from the container's own files (the password never on a command line).
 */
export function loadDumpCommand(database: string): string[] {
  const script = 'MYSQL_PWD="$(cat /etc/slurm-cluster/database-password)" exec mariadb -u "$(cat /etc/slurm-cluster/database-user)" "$1"';
  return ["sh", "-c", script, "load", database];
}

/**
 * Why a state copy must not be unpacked into the controller (docker cp extracts as root), or
 * undefined: only regular files and directories under the state directory's own name, no absolute
 * names, no `..`, no links or devices.
 */
export async function stateArchiveProblem(stateTar: Buffer): Promise<string | undefined> {
  const top = path.posix.basename(STATE_DIR);
  const problems: string[] = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      const name = header.name.replace(/\/+$/, "");
      const parts = name.split("/");
      if (header.type !== "file" && header.type !== "directory") problems.push(`${name} is a ${header.type}`);
      else if (name.startsWith("/") || parts.includes("..") || parts[0] !== top) problems.push(`${name} is outside ${top}/`);
      stream.resume();
      stream.on("end", next);
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  extract.end(stateTar);
  try {
    await done;
  } catch (err) {
    return `slurmctld-state.tar cannot be read (${(err as Error).message})`;
  }
  if (problems.length === 0) return undefined;
  return `slurmctld-state.tar holds ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ""}: only regular files and directories under ${top}/ are restored`;
}

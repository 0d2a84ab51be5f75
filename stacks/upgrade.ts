import * as fs from "fs";
import * as path from "path";
import { ClusterSpec } from "../config";
import { backup } from "../cli/backup";
import { ClusterDaemons } from "../cli/cluster";
import { ContainerExec } from "../docker/container-exec";

/** Where the backup made before an upgrade goes: ./backups, as `slurm-cluster backup` writes by default. */
export const UPGRADE_BACKUP_DIR = "backups";

/**
 * The cluster's daemons as the backup reaches them, named from the spec (the stack's outputs are
 * the old deployment's, and Pulumi holds them while `up` runs): the database password is the one
 * the database container holds, read as the operator who runs `up` (root on the engine already).
 */
async function daemonsOf(spec: ClusterSpec, engine: ContainerExec): Promise<ClusterDaemons> {
  const version = await engine.run(spec.containers.controller, ["slurmctld", "-V"]);
  if (version.code !== 0) throw new Error(`slurmctld -V in ${spec.containers.controller} failed: ${(version.err || version.out).trim()}`);
  const password = await engine.run(spec.containers.database, ["cat", "/etc/slurm-cluster/database-password"]);
  if (password.code !== 0) throw new Error(`cannot read the accounting database's password in ${spec.containers.database}: ${password.err.trim()}`);
  return {
    stack: spec.stack,
    engine,
    labels: Object.entries(spec.labels).map(([k, v]) => `${k}=${v}`),
    outputs: {
      clusterName: spec.clusterName,
      slurmVersion: version.out.trim().replace(/^slurm(-wlm)?\s+/, ""),
      controller: { containerName: spec.containers.controller },
      database: { host: spec.hosts.database, address: "", port: spec.database.port, name: spec.database.name, user: spec.database.user, password: password.out.trim() },
    },
  };
}

/**
 * The first step of an upgrade of slurmRelease, before anything is replaced: the project's backup
 * of the running cluster (accounting database, slurmctld's state, its config), kept in
 * ./backups. Its path is printed; restoring it into a stack of the old release is the way back
 * (README, Upgrading Slurm). A backup that fails stops the upgrade before anything changed.
 */
export async function backupBeforeUpgrade(spec: ClusterSpec, progress: (line: string) => void, dir = path.resolve(UPGRADE_BACKUP_DIR)): Promise<string> {
  const { from, to } = spec.upgrade!;
  const record = path.join(dir, `upgrade-${spec.stack}-${from}-to-${to}.json`);
  const earlier = readRecord(record);
  const engine = new ContainerExec(spec.dockerHost);
  progress(`upgrading Slurm ${from} to ${to}: backing up first`);
  try {
    const daemons = await daemonsOf(spec, engine);
    const file = await backup(daemons, dir, (line) => progress(`backup: ${line}`));
    fs.writeFileSync(record, JSON.stringify({ from, to, file, slurmVersion: daemons.outputs.slurmVersion, at: new Date().toISOString() }, null, 2) + "\n", { mode: 0o600 });
    progress(`backup of Slurm ${daemons.outputs.slurmVersion} written to ${file}; restore it into a ${from} stack to go back (README, Upgrading Slurm)`);
    return file;
  } catch (err) {
    // An upgrade that failed half-way (slurmdbd replaced, say) cannot be backed up again; the
    // backup its first attempt made is the way back, and `up` goes on to finish the upgrade.
    if (!earlier) throw new Error(`the backup before upgrading Slurm ${from} to ${to} failed, so nothing was changed: ${(err as Error).message}`);
    progress(`backing up again failed (${(err as Error).message}); this upgrade's earlier attempt made ${earlier.file} at ${earlier.at}: going on with it as the way back`);
    return earlier.file;
  }
}

/** The record of an upgrade's backup, when one was made and its archive is still there. */
function readRecord(record: string): { file: string; at: string } | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(record, "utf8")) as { file?: unknown; at?: unknown };
    return typeof parsed.file === "string" && typeof parsed.at === "string" && fs.existsSync(parsed.file) ? { file: parsed.file, at: parsed.at } : undefined;
  } catch {
    return undefined;
  }
}

import { ClusterSpec } from "../spec";
import { StackNames, joinSections, renderHeader } from "./header";
import { SLURMDBD_PORT, jwtAuthLines } from "./slurm-conf";

/**
 * slurmdbd.conf. It holds the database password, so callers pass a secret and keep the
 * result secret (slurmdbd also refuses the file unless it is mode 0600, owned by SlurmUser).
 */
export function renderSlurmdbdConf(spec: StackNames & Pick<ClusterSpec, "hosts" | "database">, databasePassword: string): string {
  return joinSections([
    [renderHeader("slurmdbd.conf", spec)],
    [
      "AuthType=auth/munge",
      ...jwtAuthLines(),
      `DbdHost=${spec.hosts.slurmdbd}`,
      `DbdPort=${SLURMDBD_PORT}`,
      "SlurmUser=slurm",
      "PidFile=/run/slurmdbd.pid",
      "DebugLevel=info",
    ],
    [
      "# Accounting database (not published on the host)",
      "StorageType=accounting_storage/mysql",
      `StorageHost=${spec.hosts.database}`,
      `StoragePort=${spec.database.port}`,
      `StorageUser=${spec.database.user}`,
      `StoragePass=${databasePassword}`,
      `StorageLoc=${spec.database.name}`,
    ],
  ]);
}

/** Where the accounting client config sits in the slurmdbd container (its healthcheck's SLURM_CONF). */
export const ACCOUNTING_CLIENT_CONF = "/etc/slurm/accounting-client.conf";

/**
 * The least slurm.conf with which sacctmgr in the slurmdbd container asks slurmdbd itself: the
 * healthcheck. Only what rarely changes, so slurmdbd is not replaced when scheduling settings do.
 */
export function renderAccountingClientConf(spec: StackNames & Pick<ClusterSpec, "hosts">): string {
  return joinSections([
    [renderHeader("accounting-client.conf (slurmdbd's healthcheck: sacctmgr asks slurmdbd, which asks the database)", spec)],
    [
      `ClusterName=${spec.clusterName}`,
      `SlurmctldHost=${spec.hosts.controller}`,
      "AuthType=auth/munge",
      "AccountingStorageType=accounting_storage/slurmdbd",
      `AccountingStorageHost=${spec.hosts.slurmdbd}`,
      `AccountingStoragePort=${SLURMDBD_PORT}`,
    ],
  ]);
}

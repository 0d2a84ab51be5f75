import { ClusterSpec } from "../spec";
import { joinSections, renderHeader } from "./header";
import { SLURMDBD_PORT, jwtAuthLines } from "./slurm-conf";

/**
 * slurmdbd.conf. It holds the database password, so callers pass a secret and keep the
 * result secret (slurmdbd also refuses the file unless it is mode 0600, owned by SlurmUser).
 */
export function renderSlurmdbdConf(spec: ClusterSpec, databasePassword: string): string {
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

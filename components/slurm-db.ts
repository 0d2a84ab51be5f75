import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as random from "@pulumi/random";
import { ClusterSpec } from "../config";
import { ACCOUNTING_CLIENT_CONF, renderAccountingClientConf, renderSlurmdbdConf } from "../config/render";
import {
  ClusterNetworks, REPLACE_ON_CHANGES, STOP_GRACE_SECONDS, SlurmNodeFiles, TYPE_PREFIX, jwtKeyUpload, onNetworks, readinessCheck,
} from "./container-parts";
import { dockerLabels } from "./labels";
import { containerBaseline } from "../config/render/container-baseline";

export interface SlurmDbArgs {
  /** The part of the validated spec it reads. */
  readonly spec: Pick<ClusterSpec, "volumes" | "containers" | "hosts" | "database" | "clusterName" | "project" | "stack" | "labels" | "serviceMemoryMb" | "userProcessLimit">;
  /** The Slurm image (runs slurmdbd). */
  readonly slurmImage: pulumi.Input<string>;
  /** The database image (MariaDB from Debian). */
  readonly databaseImage: pulumi.Input<string>;
  /** The munge key (slurmdbd needs no slurm.conf). */
  readonly files: Pick<SlurmNodeFiles, "mungeKeyBase64">;
  /**
   * The database is on the accounting network only; slurmdbd on it (to reach the database) and on
   * the cluster network (where slurmctld, sacctmgr and slurmrestd reach it).
   */
  readonly networks: Pick<ClusterNetworks, "cluster" | "accounting">;
  /** The REST API's JWT key, base64, secret. */
  readonly jwtKeyBase64: pulumi.Input<string>;
}

/** Slurm accounting: a MariaDB database on a named volume, and slurmdbd in front of it. */
export class SlurmDb extends pulumi.ComponentResource {
  /** The accounting database's password, secret. */
  public readonly password: pulumi.Output<string>;
  /** The database container's address on the accounting network (its only one). */
  public readonly databaseAddress: pulumi.Output<string>;
  public readonly slurmdbdContainerName: pulumi.Output<string>;

  constructor(name: string, args: SlurmDbArgs, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}:index:SlurmDb`, name, {}, opts);
    const { spec, files, networks } = args;

    const password = new random.RandomPassword(
      `${name}-password`,
      // Letters and digits only: the value goes into slurmdbd.conf and SQL unquoted.
      { length: 32, special: false },
      { parent: this, additionalSecretOutputs: ["result", "bcryptHash"] },
    );
    this.password = pulumi.secret(password.result);

    const dataVolume = new docker.Volume(
      `${name}-data`,
      { name: spec.volumes.database, labels: dockerLabels(spec, "database") },
      // Accounting history must outlive a mistaken `destroy` of the container.
      { parent: this, retainOnDelete: true },
    );

    const database = new docker.Container(
      `${name}-database`,
      {
        name: spec.containers.database,
        hostname: spec.hosts.database,
        image: args.databaseImage,
        ...containerBaseline(spec, "database"),
        labels: dockerLabels(spec, "database"),
        networksAdvanced: onNetworks([networks.accounting], spec.hosts.database),
        // No ports: the database is reachable only on the accounting network, from slurmdbd.
        mounts: [{ type: "volume", source: dataVolume.name, target: "/var/lib/mysql" }],
        uploads: [
          { file: "/etc/slurm-cluster/database-name", content: spec.database.name },
          { file: "/etc/slurm-cluster/database-user", content: spec.database.user },
          { file: "/etc/slurm-cluster/database-password", content: this.password, permissions: "0600" },
        ],
        healthcheck: readinessCheck(["CMD", "mariadb-admin", "ping", "--silent"], 30),
        // Not waited for: slurmdbd (created next) waits for the database's port itself, so its own
        // start overlaps the database's first-start initialisation (seconds off the first job), and
        // up waits for slurmdbd to answer from the database, which covers this one.
        wait: false,
        restart: "unless-stopped",
        // MariaDB flushes and closes its tables on SIGTERM instead of crash recovery at next start.
        destroyGraceSeconds: STOP_GRACE_SECONDS,
      },
      { parent: this, replaceOnChanges: REPLACE_ON_CHANGES },
    );

    const slurmdbd = new docker.Container(
      `${name}-slurmdbd`,
      {
        name: spec.containers.slurmdbd,
        hostname: spec.hosts.slurmdbd,
        image: args.slurmImage,
        ...containerBaseline(spec, "slurmdbd"),
        command: ["slurmdbd"],
        labels: dockerLabels(spec, "slurmdbd"),
        networksAdvanced: onNetworks([networks.cluster, networks.accounting], spec.hosts.slurmdbd),
        uploads: [
          { file: "/etc/munge/munge.key", contentBase64: files.mungeKeyBase64, permissions: "0400" },
          jwtKeyUpload(args.jwtKeyBase64),
          {
            file: "/etc/slurm/slurmdbd.conf",
            content: pulumi.secret(this.password.apply((p) => renderSlurmdbdConf(spec, p))),
            permissions: "0600",
          },
          { file: ACCOUNTING_CLIENT_CONF, content: renderAccountingClientConf(spec) },
        ],
        // Healthy only while slurmdbd answers from its database (sacctmgr asks it): with the database
        // gone, slurmdbd keeps its port open but can record nothing, and says so within ~15 s
        // (7 failures 2 s apart). Every 2 s like the other daemons' readiness checks: `up` waits for
        // this one, and at 5 s it was the last to turn healthy, ~3 s after slurmdbd answered.
        healthcheck: {
          tests: ["CMD-SHELL", `SLURM_CONF=${ACCOUNTING_CLIENT_CONF} sacctmgr -n list cluster format=cluster >/dev/null`],
          interval: "2s",
          timeout: "5s",
          retries: 7,
          startPeriod: "60s",
        },
        wait: true,
        waitTimeout: 240,
        restart: "unless-stopped",
        // slurmdbd sends what it holds to the database on SIGTERM.
        destroyGraceSeconds: STOP_GRACE_SECONDS,
      },
      { parent: this, dependsOn: [database], replaceOnChanges: REPLACE_ON_CHANGES },
    );

    this.databaseAddress = database.networkDatas.apply((n) => n?.[0]?.ipAddress ?? "");
    this.slurmdbdContainerName = slurmdbd.name;
    this.registerOutputs({ password: this.password, databaseAddress: this.databaseAddress, slurmdbdContainerName: this.slurmdbdContainerName });
  }
}

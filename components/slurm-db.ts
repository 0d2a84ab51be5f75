import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as random from "@pulumi/random";
import { ClusterSpec } from "../config";
import { renderSlurmdbdConf, SLURMDBD_PORT } from "../config/render";
import { mungeKeyUpload, readinessCheck, tcpReadinessCheck } from "./container-parts";
import { projectImage } from "./image";
import { dockerLabels } from "./labels";

export interface SlurmDbArgs {
  /** The validated cluster spec. */
  spec: ClusterSpec;
  /** The Slurm image (runs slurmdbd). */
  slurmImage: pulumi.Input<string>;
  /** The cluster's private Docker network name. */
  network: pulumi.Input<string>;
  /** The munge key, base64, secret. */
  mungeKeyBase64: pulumi.Input<string>;
}

/** Slurm accounting: a MariaDB database on a named volume, and slurmdbd in front of it. */
export class SlurmDb extends pulumi.ComponentResource {
  /** The accounting database's password, secret. */
  public readonly password: pulumi.Output<string>;
  /** The database container's address on the cluster network. */
  public readonly databaseAddress: pulumi.Output<string>;
  /** The slurmdbd container: the controller starts after it is healthy. */
  public readonly slurmdbd: docker.Container;
  public readonly database: docker.Container;

  constructor(name: string, args: SlurmDbArgs, opts?: pulumi.ComponentResourceOptions) {
    super("slurm:index:SlurmDb", name, {}, opts);
    const { spec } = args;

    const password = new random.RandomPassword(
      `${name}-password`,
      // Letters and digits only: the value goes into slurmdbd.conf and SQL unquoted.
      { length: 32, special: false },
      { parent: this, additionalSecretOutputs: ["result", "bcryptHash"] },
    );
    this.password = pulumi.secret(password.result);

    const image = projectImage(`${name}-database-image`, "mariadb", { BASE_IMAGE: spec.baseImage }, { parent: this });
    const dataVolume = new docker.Volume(
      `${name}-data`,
      { name: spec.volumes.database, labels: dockerLabels(spec, "database") },
      // Accounting history must outlive a mistaken `destroy` of the container.
      { parent: this, retainOnDelete: true },
    );

    this.database = new docker.Container(
      `${name}-database`,
      {
        name: spec.containers.database,
        hostname: spec.hosts.database,
        image: image.imageName,
        labels: dockerLabels(spec, "database"),
        networksAdvanced: [{ name: args.network, aliases: [spec.hosts.database] }],
        // No ports: the database is reachable only on the cluster network.
        mounts: [{ type: "volume", source: dataVolume.name, target: "/var/lib/mysql" }],
        uploads: [
          { file: "/etc/slurm-cluster/database-name", content: spec.database.name },
          { file: "/etc/slurm-cluster/database-user", content: spec.database.user },
          { file: "/etc/slurm-cluster/database-password", content: this.password, permissions: "0600" },
        ],
        healthcheck: readinessCheck(["CMD", "mariadb-admin", "ping", "--silent"], 30),
        wait: true,
        waitTimeout: 180,
        restart: "unless-stopped",
      },
      { parent: this },
    );

    this.slurmdbd = new docker.Container(
      `${name}-slurmdbd`,
      {
        name: spec.containers.slurmdbd,
        hostname: spec.hosts.slurmdbd,
        image: args.slurmImage,
        command: ["slurmdbd"],
        labels: dockerLabels(spec, "slurmdbd"),
        networksAdvanced: [{ name: args.network, aliases: [spec.hosts.slurmdbd] }],
        uploads: [
          mungeKeyUpload(args.mungeKeyBase64),
          {
            file: "/etc/slurm/slurmdbd.conf",
            content: pulumi.secret(this.password.apply((p) => renderSlurmdbdConf(spec, p))),
            permissions: "0600",
          },
        ],
        healthcheck: tcpReadinessCheck(SLURMDBD_PORT),
        wait: true,
        waitTimeout: 240,
        restart: "unless-stopped",
      },
      { parent: this, dependsOn: [this.database] },
    );

    this.databaseAddress = this.database.networkDatas.apply((n) => n?.[0]?.ipAddress ?? "");
    this.registerOutputs({ password: this.password, databaseAddress: this.databaseAddress });
  }
}

import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { ClusterSpec } from "../config";
import { SLURMRESTD_PORT, restOpenapiVersion } from "../config/render";
import { REPLACE_ON_CHANGES, SlurmNodeFiles, TYPE_PREFIX, onNetwork, publishedUrl, slurmUploads, tcpReadinessCheck } from "./container-parts";
import { dockerLabels } from "./labels";
import { containerBaseline } from "../config/render/container-baseline";

export interface RestApiArgs {
  /** The part of the validated spec it reads. */
  readonly spec: Pick<ClusterSpec, "rest" | "stack" | "labels" | "serviceMemoryMb" | "userProcessLimit" | "slurmRelease">;
  /** The Slurm image (it has slurmrestd). */
  readonly slurmImage: pulumi.Input<string>;
  /** Network, munge key and Slurm config files. */
  readonly files: SlurmNodeFiles;
  /** The controller's container name: the output's token command runs there. */
  readonly controllerContainer: pulumi.Input<string>;
}

/**
 * slurmrestd, Slurm's REST API, authenticating every request with a JSON Web Token
 * (rest_auth/jwt; slurmctld and slurmdbd check it). Published only on spec.rest.bindAddress.
 */
export class RestApi extends pulumi.ComponentResource {
  public readonly url: pulumi.Output<string>;
  public readonly openapiVersion: pulumi.Output<string>;
  /** How an operator gets a user's token: run this (with the user's name) in the checkout. */
  public readonly tokenCommand: pulumi.Output<string>;

  constructor(name: string, args: RestApiArgs, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}:index:RestApi`, name, {}, opts);
    const { spec, files } = args;
    const rest = spec.rest;

    new docker.Container(
      `${name}-slurmrestd`,
      {
        name: rest.container,
        hostname: rest.host,
        image: args.slurmImage,
        ...containerBaseline(spec, "rest"),
        command: ["rest"],
        envs: [`SLURMRESTD_PORT=${SLURMRESTD_PORT}`],
        labels: dockerLabels(spec, "rest"),
        networksAdvanced: onNetwork(files, rest.host),
        ports: [{ internal: SLURMRESTD_PORT, external: rest.port, ip: rest.bindAddress }],
        uploads: slurmUploads(files),
        healthcheck: tcpReadinessCheck(SLURMRESTD_PORT),
        wait: true,
        waitTimeout: 180,
        restart: "unless-stopped",
      },
      { parent: this, dependsOn: opts?.dependsOn, replaceOnChanges: REPLACE_ON_CHANGES },
    );

    this.url = pulumi.output(publishedUrl(rest.bindAddress, rest.port));
    this.openapiVersion = pulumi.output(restOpenapiVersion(spec));
    // The operator hands each user a token of their own (slurmctld issues tokens for others to root only).
    this.tokenCommand = pulumi.output(`npx slurm-cluster token --user <user> -s ${spec.stack}`);
    this.registerOutputs({ url: this.url, openapiVersion: this.openapiVersion, tokenCommand: this.tokenCommand });
  }
}

import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { METRICS_USER, SLURMCTLD_TOKEN_EXPIRY, mintHs256Token } from "../config/render";
import { TYPE_PREFIX } from "./container-parts";

/**
 * What lets the Slurm exporter read slurmctld's own metrics on Slurm 26.05 under PrivateData: an
 * HS256 key for slurmctld's HTTP listener alone (not the REST API's) and a token for the
 * exporter's user signed with it. Both only ever secrets; a new key (replace this resource)
 * ends the token.
 */
export class SlurmctldMetricsAccess extends pulumi.ComponentResource {
  /** The key, base64, secret. Installed on the controller only (slurm:slurm, 0600). */
  public readonly keyBase64: pulumi.Output<string>;
  /** The exporter's token, secret. Installed in the exporter's container only (slurm-exporter, 0400). */
  public readonly token: pulumi.Output<string>;

  constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}:index:SlurmctldMetricsAccess`, name, {}, opts);
    const bytes = new random.RandomBytes(`${name}-key`, { length: 32 }, { parent: this, additionalSecretOutputs: ["base64", "hex"] });
    this.keyBase64 = pulumi.secret(bytes.base64);
    this.token = pulumi.secret(bytes.base64.apply((key) => mintHs256Token(key, METRICS_USER, SLURMCTLD_TOKEN_EXPIRY)));
    this.registerOutputs({ keyBase64: this.keyBase64, token: this.token });
  }
}

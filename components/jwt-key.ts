import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { TYPE_PREFIX } from "./container-parts";

/**
 * The HS256 key slurmctld and slurmdbd check REST API tokens with: random bytes, only ever a
 * secret. A new key (replace this resource) invalidates every token issued with the old one.
 */
export class JwtKey extends pulumi.ComponentResource {
  /** The key, base64, secret. Installed as /etc/slurm/jwt_hs256.key (slurm:slurm, 0600). */
  public readonly keyBase64: pulumi.Output<string>;

  constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}:index:JwtKey`, name, {}, opts);
    // 32 bytes: the HS256 key size Slurm's JWT guide uses.
    const bytes = new random.RandomBytes(`${name}-bytes`, { length: 32 }, { parent: this, additionalSecretOutputs: ["base64", "hex"] });
    this.keyBase64 = pulumi.secret(bytes.base64);
    this.registerOutputs({ keyBase64: this.keyBase64 });
  }
}

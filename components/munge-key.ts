import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { TYPE_PREFIX } from "./container-parts";

export interface MungeKeyArgs {
  /** Key length in bytes; munge accepts 32 to 1024, and 128 bytes gives the recommended 1024 bits. */
  readonly lengthBytes?: number;
}

/** The cluster's shared munge key: random bytes, only ever exposed as a secret. */
export class MungeKey extends pulumi.ComponentResource {
  /** The key, base64-encoded, marked secret. Install as /etc/munge/munge.key (munge:munge, 0400). */
  public readonly keyBase64: pulumi.Output<string>;

  constructor(name: string, args: MungeKeyArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}:index:MungeKey`, name, {}, opts);
    const bytes = new random.RandomBytes(
      `${name}-bytes`,
      { length: args.lengthBytes ?? 128 },
      { parent: this, additionalSecretOutputs: ["base64", "hex"] },
    );
    this.keyBase64 = pulumi.secret(bytes.base64);
    this.registerOutputs({ keyBase64: this.keyBase64 });
  }
}

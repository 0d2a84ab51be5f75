import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { ClusterSpec } from "../config";
import { dockerLabels } from "./labels";

/**
 * The cluster's private network. The docker provider replaces a network whenever any of its
 * inputs changes, creating the new one before deleting the old, and Docker refuses a second
 * network of the same name. So the name ends in a hash of those inputs: a network with other
 * settings gets another name, its containers move to it, and the old one is deleted after.
 */
export function clusterNetwork(spec: ClusterSpec, opts: pulumi.CustomResourceOptions): docker.Network {
  const settings = {
    driver: "bridge",
    labels: dockerLabels(spec, "network"),
    ...(spec.networkSubnet ? { ipamConfigs: [{ subnet: spec.networkSubnet }] } : {}),
  };
  const hash = crypto.createHash("sha256").update(JSON.stringify(settings)).digest("hex").slice(0, 8);
  return new docker.Network("network", { name: `${spec.network}-${hash}`, ...settings }, opts);
}

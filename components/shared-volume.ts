import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { ClusterSpec } from "../config";
import { dockerLabels } from "./labels";

/**
 * The volume mounted at /shared: a local Docker volume, or with sharedNfs an NFS export (the
 * local driver mounts it on each container start), so stacks on several machines share files.
 * Retained on delete either way: users' job files live there.
 */
export function sharedVolume(spec: Pick<ClusterSpec, "sharedNfs" | "volumes" | "labels">, opts: pulumi.CustomResourceOptions): docker.Volume {
  const nfs = spec.sharedNfs ? /^([^:]+):(.*)$/.exec(spec.sharedNfs) : null;
  return new docker.Volume(
    "shared",
    {
      name: spec.volumes.shared,
      labels: dockerLabels(spec, "shared"),
      ...(nfs ? { driver: "local", driverOpts: { type: "nfs", o: `addr=${nfs[1]},rw,nfsvers=4`, device: `:${nfs[2]}` } } : {}),
    },
    { ...opts, retainOnDelete: true },
  );
}

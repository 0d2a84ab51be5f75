import * as pulumi from "@pulumi/pulumi";
import { TYPE_PREFIX } from "./container-parts";
import { dockerExec } from "./node-registration";

/** The cluster users' Linux accounts, kept on a stack's Slurm containers. */
export interface LinuxUsersInputs {
  /** name:uid:gid lines. */
  usersFile: string;
  /** The stack's Slurm containers; the first writes the list to the shared volume. */
  containers: string[];
  dockerHost: string;
}

// Runs inside Pulumi's dynamic-provider host: dockerExec only.

/**
 * Writes the list to the shared volume (where a container created later reads it at start) and
 * creates the users in every running container: a change of users replaces no container.
 */
async function apply(inputs: LinuxUsersInputs): Promise<void> {
  for (const [i, container] of inputs.containers.entries()) {
    const env = i === 0 ? ["WRITE_USERS=1", `SLURM_CLUSTER_USERS=${inputs.usersFile}`] : [];
    const res = await dockerExec(inputs.dockerHost, container, ["/usr/local/sbin/slurm-entrypoint", "users"], env);
    if (res.code !== 0) throw new Error(`creating the cluster's users in ${container} failed: ${(res.err || res.out).trim()}`);
  }
}

const provider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: LinuxUsersInputs) {
    await apply(inputs);
    return { id: "linux-users", outs: inputs };
  },
  async diff(_id: string, olds: LinuxUsersInputs, news: LinuxUsersInputs) {
    const keys: (keyof LinuxUsersInputs)[] = ["usersFile", "containers", "dockerHost"];
    return { changes: keys.some((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k])) };
  },
  async update(_id: string, _olds: LinuxUsersInputs, news: LinuxUsersInputs) {
    await apply(news);
    return { outs: news };
  },
  // Users stay on the containers (and their homes on the shared volume) when the resource goes.
};

/**
 * The cluster's users on every Slurm container of the stack, the same uids everywhere: created at
 * each container's start from the list on the shared volume, and here whenever the list changes.
 * Users removed from the list keep their Linux account (and home); Slurm refuses them jobs
 * once their association is gone.
 */
export class LinuxUsers extends pulumi.dynamic.Resource {
  constructor(name: string, args: { usersFile: string; containers: pulumi.Input<string>[]; dockerHost: string }, opts?: pulumi.CustomResourceOptions) {
    super(provider, name, args, opts, TYPE_PREFIX, "LinuxUsers");
  }
}

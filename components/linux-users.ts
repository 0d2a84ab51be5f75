import * as pulumi from "@pulumi/pulumi";
import { TYPE_PREFIX } from "./container-parts";
import { dockerExec } from "./node-registration";

/** The cluster users' Linux accounts, kept on a stack's Slurm containers. */
interface LinuxUsersInputs {
  /** name:uid:gid lines. */
  usersFile: string;
  /** The stack's Slurm containers; the first writes the list to the shared volume. */
  containers: string[];
  dockerHost: string;
  /** Cluster stacks: the users' SSH public keys, `user key` lines, written beside the list for the login node. */
  authorizedKeys?: string;
}

// Runs inside Pulumi's dynamic-provider host: dockerExec only.

/** Containers brought up to date at once: enough to finish 66 in seconds, few enough not to swamp dockerd. */
const PARALLEL_EXECS = 8;

/**
 * Writes the list to the shared volume (where a container created later reads it at start), then
 * creates the users in every other running container, a bounded number at a time: a change of
 * users replaces no container and costs seconds, not one exec after another.
 */
async function apply(inputs: LinuxUsersInputs): Promise<void> {
  const run = async (container: string, env: string[]) => {
    const res = await dockerExec(inputs.dockerHost, container, ["/usr/local/sbin/slurm-entrypoint", "users"], env);
    if (res.code !== 0) throw new Error(`creating the cluster's users in ${container} failed: ${(res.err || res.out).trim()}`);
  };
  const [first, ...rest] = inputs.containers;
  if (first === undefined) return;
  const keys = inputs.authorizedKeys !== undefined ? ["WRITE_KEYS=1", `SLURM_CLUSTER_AUTHORIZED_KEYS=${inputs.authorizedKeys}`] : [];
  await run(first, ["WRITE_USERS=1", `SLURM_CLUSTER_USERS=${inputs.usersFile}`, ...keys]);
  const queue = [...rest];
  const failures: string[] = [];
  const lane = async () => {
    for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
      await run(c, []).catch((err: Error) => failures.push(err.message));
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_EXECS, queue.length) }, lane));
  if (failures.length > 0) throw new Error(failures.join("\n"));
}

const provider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: LinuxUsersInputs) {
    await apply(inputs);
    return { id: "linux-users", outs: inputs };
  },
  async diff(_id: string, olds: LinuxUsersInputs, news: LinuxUsersInputs) {
    const keys: (keyof LinuxUsersInputs)[] = ["usersFile", "containers", "dockerHost", "authorizedKeys"];
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
  constructor(
    name: string,
    args: Readonly<{ usersFile: string; containers: pulumi.Input<string>[]; dockerHost: string; authorizedKeys?: string }>,
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(provider, name, args, opts, TYPE_PREFIX, "LinuxUsers");
  }
}

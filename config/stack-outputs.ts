// The stack outputs, as one schema: stacks/ produce them (their return type is checked against it)
// and the CLI parses `pulumi stack output --json` with it, so the two cannot drift apart unseen.
// Scripts and dashboards read the same names (README, "Stack outputs").
import type * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { CGROUP_MODES } from "./keys";

/**
 * What a cluster stack publishes for the workers stacks that join it: its `join` output. A
 * workers stack reads it through a StackReference and checks it before creating anything.
 */
export const JOIN_SCHEMA = z.object({
  clusterName: z.string(),
  slurmVersion: z.string(),
  baseImage: z.string(),
  cgroupMode: z.enum(CGROUP_MODES),
  /** Where slurmctld (and srun's ports) are published for other machines; null: nowhere. */
  controllerAddress: z.string().nullable(),
  slurmctldPort: z.number(),
  partitions: z.array(z.string()),
  /** The cluster stack's own node names (a workers stack may not reuse them). */
  nodeNames: z.array(z.string()),
  /** slurm.conf, which must be the same on every node of the cluster. */
  slurmConf: z.string(),
  /** The cluster users' Linux accounts (name:uid:gid lines), the same on every node. */
  usersFile: z.string(),
  /** The munge key, base64 (a secret output). */
  mungeKeyBase64: z.string(),
});
export type ControllerJoin = z.infer<typeof JOIN_SCHEMA>;

const NODE = z.object({ name: z.string(), containerName: z.string(), state: z.string(), cpus: z.number(), memoryMb: z.number() }).strict();

/** What every stack reports about itself. */
const COMMON = {
  clusterName: z.string(),
  partition: z.string(),
  platform: z.string(),
  slurmVersion: z.string(),
  cgroupMode: z.enum(CGROUP_MODES),
  hostCgroupVersion: z.number(),
  /** The cluster network: a workers stack's only one. */
  network: z.string(),
};

/** A cluster stack (role cluster): controller, database, accounting, REST and monitoring. */
export const CLUSTER_OUTPUTS_SCHEMA = z
  .object({
    role: z.literal("cluster"),
    ...COMMON,
    /** The networks by role (`network` is `networks.cluster`); monitoring null when it is off. */
    networks: z.object({ cluster: z.string(), accounting: z.string(), monitoring: z.string().nullable() }).strict(),
    controller: z.object({ containerName: z.string(), hostname: z.string(), address: z.string(), stateSaveVolume: z.string() }).strict(),
    join: JOIN_SCHEMA.strict(),
    nodes: z.array(NODE),
    database: z.object({ host: z.string(), address: z.string(), port: z.number(), name: z.string(), user: z.string(), password: z.string() }).strict(),
    sharedVolume: z.object({ name: z.string(), mountPath: z.string() }).strict(),
    accounting: z.object({ accounts: z.array(z.string()), users: z.array(z.string()), qos: z.array(z.string()) }).strict(),
    rest: z.object({ url: z.string(), openapiVersion: z.string(), tokenCommand: z.string() }).strict(),
    /** The login node: where users reach it by SSH, and its host key (for known_hosts). */
    login: z.object({ host: z.string(), port: z.number(), sshCommand: z.string(), hostKey: z.string() }).strict(),
    monitoring: z
      .object({
        prometheusUrl: z.string(),
        alertmanagerUrl: z.string(),
        slurmExporterUrl: z.string(),
        grafanaUrl: z.string().nullable(),
        grafanaAdminUser: z.string().nullable(),
        grafanaAdminPassword: z.string().nullable(),
      })
      .strict()
      .nullable(),
  })
  .strict();

/** A workers stack (role workers): only this machine's workers, joined to its controller stack. */
export const WORKERS_OUTPUTS_SCHEMA = z
  .object({
    role: z.literal("workers"),
    ...COMMON,
    controllerStack: z.string(),
    advertiseAddress: z.string(),
    nodes: z.array(NODE.extend({ slurmdPort: z.number(), gpus: z.number() }).strict()),
    sharedVolume: z.object({ name: z.string(), mountPath: z.string(), nfs: z.string().nullable() }).strict(),
    monitoring: z.object({ nodeExporterUrl: z.string() }).strict().nullable(),
  })
  .strict();

export const STACK_OUTPUTS_SCHEMA = z.discriminatedUnion("role", [CLUSTER_OUTPUTS_SCHEMA, WORKERS_OUTPUTS_SCHEMA]);
export type ClusterStackOutputs = z.infer<typeof CLUSTER_OUTPUTS_SCHEMA>;
export type WorkersStackOutputs = z.infer<typeof WORKERS_OUTPUTS_SCHEMA>;
export type StackOutputs = z.infer<typeof STACK_OUTPUTS_SCHEMA>;

/** The outputs as a program returns them: any value may still be an Output or a promise. */
export type ProgramOutputs<T> = T extends (infer E)[]
  ? pulumi.Input<ProgramOutputs<E>[]>
  : T extends object
    ? pulumi.Input<{ [K in keyof T]: ProgramOutputs<T[K]> }>
    : pulumi.Input<T>;

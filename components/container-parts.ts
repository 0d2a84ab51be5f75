import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec } from "../config";
import { MonitoringSpec } from "../config/spec";

/** The type-token prefix of every component and dynamic resource of this project. */
export const TYPE_PREFIX = "slurm-cluster";

/**
 * A readiness healthcheck, polled every 2 s: containers created with `wait: true` count as
 * created once it passes; `retries` failures in a row (after a 5 s start period) mark them unhealthy.
 */
export function readinessCheck(tests: string[], retries = 60) {
  return { tests, interval: "2s", timeout: "5s", retries, startPeriod: "5s" };
}

/** Ready when something listens on the TCP port inside the container (bash's /dev/tcp, no extra tools). */
export function tcpReadinessCheck(port: number, retries = 60) {
  return readinessCheck(["CMD-SHELL", `timeout 2 bash -c '</dev/tcp/127.0.0.1/${port}'`], retries);
}

/**
 * Ready when an HTTP GET of `path` on the port inside the container answers 2xx (bash's /dev/tcp,
 * no extra tools): Slurm 26.05 daemons' /readyz, which answers once the daemon serves requests.
 */
export function httpReadinessCheck(port: number, path: string, retries = 60) {
  const request = `printf "GET ${path} HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n" >&3`;
  return readinessCheck(["CMD-SHELL", `timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}; ${request}; head -n1 <&3 | grep -q "^HTTP/1\\.[01] 2"'`], retries);
}

/**
 * Container inputs the docker provider neither updates nor replaces on a change (it records the
 * new value and leaves the container as it was). Both decide how a container behaves, so a change
 * must replace it.
 */
export const REPLACE_ON_CHANGES = ["healthcheck", "tmpfs"];

/**
 * Seconds a container gets to stop on its stop signal before it is killed, on replace and destroy.
 * Without it the provider stops with a zero timeout: slurmctld and slurmdbd would lose unsaved
 * state, MariaDB would crash-recover, and systemd would not stop its units.
 */
export const STOP_GRACE_SECONDS = 30;

/** What every Slurm container (controller, workers, exporter) shares, passed as one argument. */
export interface SlurmNodeFiles {
  /** The cluster network's name: every Slurm container is on it (components/network.ts). */
  readonly clusterNetwork: pulumi.Input<string>;
  /** The munge key, base64, secret. */
  readonly mungeKeyBase64: pulumi.Input<string>;
  /** Rendered slurm.conf and cgroup.conf, identical on every Slurm container. */
  readonly slurmConf: string;
  readonly cgroupConf: string;
  /** The shared volume's name, mounted at spec.sharedMountPath on the controller and workers. */
  readonly sharedVolume: pulumi.Input<string>;
  /** The cluster users' Linux accounts (name:uid:gid lines): LinuxUsers keeps them on every Slurm container. */
  readonly usersFile: string;
}

/** The munge key and Slurm config files as uploads; the entrypoint hands the key to the munge user. */
export function slurmUploads(files: SlurmNodeFiles) {
  return [
    { file: "/etc/munge/munge.key", contentBase64: files.mungeKeyBase64, permissions: "0400" },
    { file: "/etc/slurm/slurm.conf", content: files.slurmConf },
    { file: "/etc/slurm/cgroup.conf", content: files.cgroupConf },
  ];
}

/** The URL of a port published on the host (0.0.0.0, every address, is reached as localhost). */
export function publishedUrl(bindAddress: string, port: number): string {
  return `http://${bindAddress === "0.0.0.0" ? "localhost" : bindAddress}:${port}`;
}

/** The REST API's token key, for the two daemons that check tokens (slurmctld, slurmdbd). */
export function jwtKeyUpload(jwtKeyBase64: pulumi.Input<string>) {
  return { file: "/etc/slurm/jwt_hs256.key", contentBase64: jwtKeyBase64, permissions: "0600" };
}

/** The shared volume mount of the controller and workers. */
export function sharedMount(spec: Pick<ClusterSpec, "sharedMountPath">, files: SlurmNodeFiles) {
  return { type: "volume", source: files.sharedVolume, target: spec.sharedMountPath };
}

/** A cluster stack's networks by role (components/network.ts); monitoring only when it is on. */
export interface ClusterNetworks {
  readonly cluster: pulumi.Input<string>;
  readonly accounting: pulumi.Input<string>;
  readonly monitoring?: pulumi.Input<string>;
}

/**
 * A container on the given networks, with the same alias on each, in the provider's shape. The
 * provider connects them one by one after create (networks_advanced is a set: the order is not kept).
 */
export function onNetworks(networks: pulumi.Input<string>[], alias: string) {
  return networks.map((name) => ({ name, aliases: [alias] }));
}

/** The cluster network with one alias, in the provider's shape. */
export function onNetwork(files: Pick<SlurmNodeFiles, "clusterNetwork">, alias: string) {
  return onNetworks([files.clusterNetwork], alias);
}

/** What Prometheus and Alertmanager each read: both run the monitoring image on the monitoring network only. */
export interface MonitoringDaemonArgs {
  /** The part of the validated spec it reads. */
  readonly spec: Pick<ClusterSpec, "clusterName" | "project" | "stack" | "labels" | "serviceMemoryMb" | "userProcessLimit" | "slurmRelease">;
  /** The spec's monitoring part (Alertmanager: its webhook URL is the one receiver). */
  readonly monitoring: MonitoringSpec;
  /** The monitoring image (Debian's prometheus and prometheus-alertmanager). */
  readonly image: pulumi.Input<string>;
  /** The monitoring network, its only one. */
  readonly network: pulumi.Input<string>;
}

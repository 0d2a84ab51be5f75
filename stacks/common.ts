import * as docker from "@pulumi/docker";
import { ClusterSpec } from "../config";
import { clusterNetwork } from "../components/network";
import { sharedVolume } from "../components/shared-volume";
import { WorkerNode } from "../components/worker-node";
import { dockerProviderArgs } from "../docker/engine";

/**
 * What every stack declares first: one explicit engine (spec.dockerHost) for every Docker resource
 * and for the registration check, the stack's network and its shared volume.
 */
export function stackFoundation(spec: ClusterSpec) {
  // TLS engines as tcp:// with certPath, ssh:// engines with strict host key checking: as the
  // registration check and the local runner reach the same engine (docker/engine.ts).
  const engine = new docker.Provider("docker-engine", dockerProviderArgs(spec.dockerHost));
  const onEngine = { provider: engine };
  return { onEngine, components: { providers: [engine] }, network: clusterNetwork(spec, onEngine), shared: sharedVolume(spec, onEngine) };
}

/** A node as the stack outputs report it: what the registration check saw. */
export function nodeOutput(w: WorkerNode) {
  return { name: w.nodeName, containerName: w.containerName, state: w.state, cpus: w.cpus, memoryMb: w.memoryMb };
}

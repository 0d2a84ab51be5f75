import * as docker from "@pulumi/docker";
import { ClusterSpec, WorkerSpec } from "../config";
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

/**
 * The stack's workers, made by `make`. During an upgrade of slurmRelease each batch of
 * upgradeBatchSize workers is drained and replaced only once the batch before it is back (the
 * resources `make` is given to wait for); otherwise they all go side by side.
 */
export function workerNodes(spec: Pick<ClusterSpec, "workers" | "upgrade" | "upgradeBatchSize">, make: (worker: WorkerSpec, upgradeAfter: WorkerNode[]) => WorkerNode): WorkerNode[] {
  const workers: WorkerNode[] = [];
  for (const [i, worker] of spec.workers.entries()) {
    const batch = Math.floor(i / spec.upgradeBatchSize);
    const previousBatch = spec.upgrade && batch > 0 ? workers.slice((batch - 1) * spec.upgradeBatchSize, batch * spec.upgradeBatchSize) : [];
    workers.push(make(worker, previousBatch));
  }
  return workers;
}

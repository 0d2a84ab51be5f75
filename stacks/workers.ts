import { ClusterSpec } from "../config";
import { slurmConfForRelease } from "../config/upgrade";
import { controllerMungeKey } from "../config/controller-stack";
import { renderCgroupConf, slurmConfForWorkers, workerContainerSettings } from "../config/render";
import { SlurmNodeFiles } from "../components/container-parts";
import { declareWorkerImages, releaseBuildArgs } from "../components/images";
import { projectImage } from "../components/image";
import { nodeExporter } from "../components/node-exporter";
import { WorkerNode } from "../components/worker-node";
import { LinuxUsers } from "../components/linux-users";
import { nodeOutput, stackFoundation, workerNodes } from "./common";
import { ProgramOutputs, WorkersStackOutputs } from "../config/stack-outputs";

/**
 * Workers only (role workers), on another machine, joining the cluster of spec.controller.stack:
 * its slurm.conf and munge key come from that stack's outputs; each slurmd is published on this
 * host's advertiseAddress, and reaches slurmctld where that stack publishes it.
 */
export function workersStack(spec: ClusterSpec) {
  const controller = spec.controller!;
  const { onEngine, components, network, shared } = stackFoundation(spec);
  const images = declareWorkerImages(spec, onEngine);
  const files: SlurmNodeFiles = {
    clusterNetwork: network.name,
    mungeKeyBase64: controllerMungeKey(controller.stack),
    // slurm.conf is the cluster's own, byte for byte, but for keys newer than this stack's
    // release while it is behind its controller's (config/upgrade.ts) and for the epilog where
    // this host emulates the workers' architecture (epilogLines); cgroup.conf is this host's.
    slurmConf: slurmConfForWorkers(slurmConfForRelease(controller.slurmConf, spec.slurmRelease), spec.emulated),
    cgroupConf: renderCgroupConf(spec),
    sharedVolume: shared.name,
    // The cluster's users, with the same uids as on the controller.
    usersFile: controller.usersFile,
  };
  // This machine's node exporter, for the cluster's Prometheus (it finds it through Slurm).
  const exporter = spec.monitoring
    ? nodeExporter(
        "node-exporter",
        {
          spec,
          monitoring: spec.monitoring,
          image: projectImage("monitoring-image", "monitoring", releaseBuildArgs(spec), spec.platform, onEngine).imageName,
          network: network.name,
        },
        onEngine,
      )
    : undefined;
  const settings = workerContainerSettings(spec);
  const workers = workerNodes(spec, (worker, upgradeAfter) => new WorkerNode(worker.nodeName, { spec, worker, settings, image: images.worker.imageName, files, upgradeAfter }, components));

  new LinuxUsers("linux-users", { usersFile: files.usersFile, containers: workers.map((w) => w.containerName), dockerHost: spec.dockerHost }, { dependsOn: workers });

  return {
    role: "workers" as const, // index.ts runs this stack for role workers only
    clusterName: spec.clusterName,
    controllerStack: controller.stack,
    partition: spec.partition,
    platform: spec.platform,
    slurmVersion: workers[0].slurmVersion,
    cgroupMode: spec.cgroupMode,
    hostCgroupVersion: spec.hostCgroupVersion,
    network: network.name,
    advertiseAddress: spec.advertiseAddress,
    nodes: workers.map((w, i) => ({
      ...nodeOutput(w),
      slurmdPort: spec.workers[i].slurmdPort,
      gpus: spec.workers[i].gpuDevices.length,
    })),
    sharedVolume: { name: shared.name, mountPath: spec.sharedMountPath, nfs: spec.sharedNfs || null },
    monitoring: exporter ? { nodeExporterUrl: `http://${spec.advertiseAddress}:${spec.monitoring!.nodeExporterPort}/metrics` } : null,
  } satisfies { [K in keyof WorkersStackOutputs]: ProgramOutputs<WorkersStackOutputs[K]> };
}

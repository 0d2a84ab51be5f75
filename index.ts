import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { loadClusterSpec } from "./config";
import { renderCgroupConf, renderSlurmConf, renderWorkerNodeConf, workerContainerSettings } from "./config/render";
import { SlurmNodeFiles } from "./components/container-parts";
import { Controller } from "./components/controller";
import { declareImages } from "./components/images";
import { dockerLabels } from "./components/labels";
import { MonitoringStack } from "./components/monitoring-stack";
import { JwtKey } from "./components/jwt-key";
import { MungeKey } from "./components/munge-key";
import { clusterNetwork } from "./components/network";
import { RestApi } from "./components/rest-api";
import { SlurmDb } from "./components/slurm-db";
import { WorkerNode } from "./components/worker-node";

// The program: stack config -> validated spec -> rendered Slurm files -> components -> outputs.
// Exported as a function so the same program runs under `pulumi up` and under the local runner.
export = async () => {
  // Throws before any resource exists when config is bad.
  const spec = await loadClusterSpec(pulumi.runtime.allConfig(), { project: pulumi.getProject(), stack: pulumi.getStack() });

  // One engine for every Docker resource and for the registration check (spec.dockerHost).
  const engine = new docker.Provider("docker-engine", { host: spec.dockerHost });
  const onEngine = { provider: engine };
  const components = { providers: [engine] };

  const network = clusterNetwork(spec, onEngine);
  const sharedVolume = new docker.Volume(
    "shared",
    { name: spec.volumes.shared, labels: dockerLabels(spec, "shared") },
    { ...onEngine, retainOnDelete: true }, // users' job files live here
  );
  const images = declareImages(spec, onEngine);
  const munge = new MungeKey("munge");
  const jwtKey = new JwtKey("jwt-key");
  const files: SlurmNodeFiles = {
    network: network.name,
    mungeKeyBase64: munge.keyBase64,
    slurmConf: renderSlurmConf(spec),
    cgroupConf: renderCgroupConf(spec),
    sharedVolume: sharedVolume.name,
  };

  const db = new SlurmDb(
    "accounting",
    { spec, slurmImage: images.slurm.imageName, databaseImage: images.database.imageName, files, jwtKeyBase64: jwtKey.keyBase64 },
    components,
  );

  const controller = new Controller(
    "controller",
    { spec, slurmImage: images.slurm.imageName, files, jwtKeyBase64: jwtKey.keyBase64 },
    { ...components, dependsOn: [db] },
  );
  const rest = new RestApi(
    "rest",
    { spec, slurmImage: images.slurm.imageName, files, controllerContainer: controller.containerName },
    { ...components, dependsOn: [controller] },
  );

  const workerSettings = workerContainerSettings(spec);
  const nodeConf = renderWorkerNodeConf(spec);
  const workers = spec.workers.map(
    (worker) =>
      new WorkerNode(
        worker.nodeName,
        { spec, worker, settings: workerSettings, image: images.worker.imageName, files, nodeConf, controllerContainer: controller.containerName },
        { ...components, dependsOn: [controller] },
      ),
  );

  const monitoring = spec.monitoring
    ? new MonitoringStack(
        "monitoring",
        {
          spec,
          monitoring: spec.monitoring,
          monitoringImage: images.monitoring!.imageName,
          slurmExporterImage: images.slurmExporter!.imageName,
          files,
        },
        { ...components, dependsOn: [controller] },
      )
    : undefined;

  // Stack outputs: stable names, read by dashboards and scripts (documented in the README).
  return {
    clusterName: spec.clusterName,
    slurmVersion: workers[0].slurmVersion,
    cgroupMode: spec.cgroupMode,
    hostCgroupVersion: spec.hostCgroupVersion,
    network: network.name,
    controller: {
      containerName: controller.containerName,
      hostname: spec.hosts.controller,
      address: controller.address,
      stateSaveVolume: controller.stateSaveVolume,
    },
    nodes: workers.map((w) => ({
      name: w.nodeName,
      containerName: w.containerName,
      state: w.state,
      cpus: w.cpus,
      memoryMb: w.memoryMb,
    })),
    database: {
      host: spec.hosts.database,
      address: db.databaseAddress,
      port: spec.database.port,
      name: spec.database.name,
      user: spec.database.user,
      password: db.password,
    },
    sharedVolume: { name: sharedVolume.name, mountPath: spec.sharedMountPath },
    rest: { url: rest.url, openapiVersion: rest.openapiVersion, tokenCommand: rest.tokenCommand },
    monitoring: monitoring
      ? {
          prometheusUrl: monitoring.prometheusUrl,
          slurmExporterUrl: monitoring.slurmExporterUrl,
          grafanaUrl: monitoring.grafanaUrl ?? null,
          grafanaAdminUser: monitoring.grafanaAdminUser ?? null,
          grafanaAdminPassword: monitoring.grafanaAdminPassword ?? null,
        }
      : null,
  } satisfies Record<string, pulumi.Input<unknown>>;
};

import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec } from "../config";
import { renderUsersFile } from "../config/accounting";
import { SLURMCTLD_PORT, renderCgroupConf, renderSlurmConf, slurmctldMetricsOn, workerContainerSettings } from "../config/render";
import { ClusterNetworks, SlurmNodeFiles } from "../components/container-parts";
import { accountingNetwork, monitoringNetwork } from "../components/network";
import { Controller } from "../components/controller";
import { declareImages } from "../components/images";
import { MonitoringStack } from "../components/monitoring-stack";
import { JwtKey } from "../components/jwt-key";
import { SlurmctldMetricsAccess } from "../components/slurmctld-metrics-access";
import { MungeKey } from "../components/munge-key";
import { RestApi } from "../components/rest-api";
import { SlurmDb } from "../components/slurm-db";
import { WorkerNode } from "../components/worker-node";
import { ClusterAccounts } from "../components/cluster-accounts";
import { LinuxUsers } from "../components/linux-users";
import { LoginNode } from "../components/login-node";
import { renderAuthorizedKeys } from "../config/ssh-keys";
import { nodeOutput, stackFoundation, workerNodes } from "./common";
import { ClusterStackOutputs, ProgramOutputs } from "../config/stack-outputs";

/** A whole cluster (role cluster): controller, accounting, REST API, monitoring and this host's workers. */
export function clusterStack(spec: ClusterSpec) {
  const { onEngine, components, network, shared: sharedVolume } = stackFoundation(spec);
  // Networks by role (README "Networks"): the database only on accounting, with slurmdbd; monitoring
  // apart from the jobs' network, joined to it only by the Slurm exporter.
  const monitoringNet = spec.monitoring ? monitoringNetwork(spec, onEngine) : undefined;
  const networks: ClusterNetworks = { cluster: network.name, accounting: accountingNetwork(spec, onEngine).name, monitoring: monitoringNet?.name };
  const images = declareImages(spec, onEngine);
  const munge = new MungeKey("munge");
  const jwtKey = new JwtKey("jwt-key");
  // Slurm 26.05: the Slurm exporter reads slurmctld's own metrics with a token (README: Monitoring).
  const metricsAccess = slurmctldMetricsOn(spec) ? new SlurmctldMetricsAccess("slurmctld-metrics") : undefined;
  const files: SlurmNodeFiles = {
    clusterNetwork: networks.cluster,
    mungeKeyBase64: munge.keyBase64,
    slurmConf: renderSlurmConf(spec),
    cgroupConf: renderCgroupConf(spec),
    sharedVolume: sharedVolume.name,
    usersFile: renderUsersFile(spec.accounting.users),
  };

  const db = new SlurmDb(
    "accounting",
    { spec, slurmImage: images.slurm.imageName, databaseImage: images.database.imageName, files, networks, jwtKeyBase64: jwtKey.keyBase64 },
    components,
  );

  // The daemons start side by side rather than one after another: each entrypoint waits (bounded)
  // for what it needs (slurmdbd for its database, slurmctld for slurmdbd, slurmd and slurmrestd for
  // slurmctld), and up still waits for the controller to answer and for every node to register.
  // Each starts once the images it runs and those of the daemons it waits for are built, so no
  // daemon's wait runs while such an image builds (minutes for another architecture under
  // emulation), and not after images it does not need: slurmctld, the workers and the login node
  // not after the exporter's (built from the whole project) or each other's, which took the first
  // job ~1 s and then ~0.6 s sooner (the login node's readiness comes before the users' accounts).
  const after = (...dependsOn: pulumi.Resource[]) => ({ ...components, dependsOn });
  const built = [images.slurm, images.worker, images.login, images.database, images.monitoring, images.slurmExporter].filter((i) => i !== undefined);
  const afterImages = after(...built);
  // An upgrade of slurmRelease goes in SchedMD's order (README, Upgrading Slurm): the backup (made
  // before any of this, index.ts), slurmdbd (its database converted), slurmctld (its state
  // converted), the workers a batch at a time, then REST, login and monitoring.
  const upgrade = spec.upgrade !== undefined;
  const controller = new Controller(
    "controller",
    { spec, slurmImage: images.slurm.imageName, files, jwtKeyBase64: jwtKey.keyBase64, metricsKeyBase64: metricsAccess?.keyBase64 },
    upgrade ? after(...built, db) : after(images.slurm, images.database),
  );

  const workerSettings = workerContainerSettings(spec);
  const workers = workerNodes(
    spec,
    (worker, upgradeAfter) =>
      new WorkerNode(
        worker.nodeName,
        { spec, worker, settings: workerSettings, image: images.worker.imageName, files, controllerContainer: controller.containerName, controllerName: spec.containers.controller, upgradeAfter },
        upgrade ? afterImages : after(images.slurm, images.database, images.worker),
      ),
  );
  const afterWorkers = upgrade ? after(...built, ...workers) : afterImages;
  const rest = new RestApi("rest", { spec, slurmImage: images.slurm.imageName, files, controllerContainer: controller.containerName }, afterWorkers);

  // The users' only way in: SSH to the login node.
  const login = new LoginNode("login", { spec, login: spec.login!, loginImage: images.login!.imageName, files }, upgrade ? afterWorkers : after(images.slurm, images.login!));

  // The users' Linux accounts on the controller, workers and login node (after their registration:
  // the containers run), before their Slurm associations are of use; with them, their SSH keys.
  const linuxUsers = new LinuxUsers(
    "linux-users",
    {
      usersFile: files.usersFile,
      containers: [controller.containerName, ...workers.map((w) => w.containerName), login.containerName],
      dockerHost: spec.dockerHost,
      authorizedKeys: renderAuthorizedKeys(spec.login!.authorizedKeys),
    },
    { dependsOn: [...workers, login] },
  );
  // Accounts, users and QOS in slurmdbd (sacctmgr on the controller). After the Linux users: slurmctld
  // learns each association's uid from the user's name when the association arrives.
  const accounts = new ClusterAccounts("accounting-objects", { spec, controllerContainer: controller.containerName }, after(controller, linuxUsers));

  const monitoring = spec.monitoring
    ? new MonitoringStack(
        "monitoring",
        {
          spec,
          monitoring: spec.monitoring,
          monitoringImage: images.monitoring!.imageName,
          slurmExporterImage: images.slurmExporter!.imageName,
          files,
          networks: { cluster: networks.cluster, monitoring: networks.monitoring! },
          stateSaveVolume: controller.stateSaveVolume,
          slurmctldMetricsToken: metricsAccess?.token,
        },
        afterWorkers,
      )
    : undefined;

  // Stack outputs: stable names, read by dashboards and scripts (documented in the README).
  return {
    role: "cluster" as const, // index.ts runs this stack for role cluster only
    clusterName: spec.clusterName,
    partition: spec.partition,
    platform: spec.platform,
    slurmVersion: workers[0].slurmVersion,
    cgroupMode: spec.cgroupMode,
    hostCgroupVersion: spec.hostCgroupVersion,
    // The cluster network (dashboards and scripts read it); all three by role below.
    network: network.name,
    networks: { cluster: networks.cluster, accounting: networks.accounting, monitoring: networks.monitoring ?? null },
    controller: {
      containerName: controller.containerName,
      hostname: spec.hosts.controller,
      address: controller.address,
      stateSaveVolume: controller.stateSaveVolume,
    },
    // What a workers stack on another machine reads (StackReference) to join this cluster.
    join: {
      clusterName: spec.clusterName,
      slurmVersion: workers[0].slurmVersion,
      baseImage: spec.baseImage,
      cgroupMode: spec.cgroupMode,
      controllerAddress: spec.advertiseAddress || null,
      slurmctldPort: SLURMCTLD_PORT,
      partitions: spec.partitions,
      nodeNames: spec.workers.map((w) => w.nodeName),
      slurmConf: files.slurmConf,
      usersFile: files.usersFile,
      mungeKeyBase64: munge.keyBase64,
    },
    nodes: workers.map(nodeOutput),
    database: {
      host: spec.hosts.database,
      address: db.databaseAddress,
      port: spec.database.port,
      name: spec.database.name,
      user: spec.database.user,
      password: db.password,
    },
    sharedVolume: { name: sharedVolume.name, mountPath: spec.sharedMountPath },
    accounting: { accounts: accounts.accounts, users: accounts.users, qos: accounts.qos },
    rest: { url: rest.url, openapiVersion: rest.openapiVersion, tokenCommand: rest.tokenCommand },
    login: { host: login.host, port: login.port, sshCommand: login.sshCommand, hostKey: login.hostKey },
    monitoring: monitoring
      ? {
          prometheusUrl: monitoring.prometheusUrl,
          alertmanagerUrl: monitoring.alertmanagerUrl,
          slurmExporterUrl: monitoring.slurmExporterUrl,
          grafanaUrl: monitoring.grafanaUrl ?? null,
          grafanaAdminUser: monitoring.grafanaAdminUser ?? null,
          grafanaAdminPassword: monitoring.grafanaAdminPassword ?? null,
        }
      : null,
  } satisfies { [K in keyof ClusterStackOutputs]: ProgramOutputs<ClusterStackOutputs[K]> };
}

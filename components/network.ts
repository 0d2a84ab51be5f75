import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { ClusterSpec } from "../config";
import { NETWORK_ROLES } from "../config/spec";
import { dockerLabels } from "./labels";

/**
 * One private network. The docker provider replaces a network whenever any of its inputs changes,
 * creating the new one before deleting the old, and Docker refuses a second network of the same
 * name. So the name ends in a hash of those inputs: a network with other settings gets another
 * name, its containers move to it, and the old one is deleted after. Each network hashes its own
 * settings, so a change to one leaves the others (and the containers only on them) alone.
 */
function privateNetwork(
  resourceName: string,
  baseName: string,
  settings: { driver: string; labels: { label: string; value: string }[]; internal?: boolean; ipamConfigs?: { subnet: string }[] },
  opts: pulumi.CustomResourceOptions,
): docker.Network {
  const hash = crypto.createHash("sha256").update(JSON.stringify(settings)).digest("hex").slice(0, 8);
  return new docker.Network(resourceName, { name: `${baseName}-${hash}`, ...settings }, opts);
}

/**
 * The cluster network: Slurm's daemons, workers, login, REST and the Slurm exporter (a workers
 * stack's workers and node exporter). networkSubnet sets its range. Its settings (and so its
 * name) stay as they are: another setting would replace it, and every container on it, on upgrade.
 */
export function clusterNetwork(spec: Pick<ClusterSpec, "networks" | "networkSubnet" | "labels">, opts: pulumi.CustomResourceOptions): docker.Network {
  return privateNetwork(
    "network",
    spec.networks.cluster,
    {
      driver: "bridge",
      labels: dockerLabels(spec, NETWORK_ROLES.cluster),
      ...(spec.networkSubnet ? { ipamConfigs: [{ subnet: spec.networkSubnet }] } : {}),
    },
    opts,
  );
}

/**
 * The accounting network: the database and slurmdbd, nothing else. Internal (no route out, no
 * published ports): neither needs one through it, and slurmdbd reaches the rest of the cluster
 * (and its default route) through the cluster network. Its range is Docker's choice; the
 * database grants its user to whatever range that is (shared/images/mariadb/entrypoint.sh).
 */
export function accountingNetwork(spec: Pick<ClusterSpec, "networks" | "labels">, opts: pulumi.CustomResourceOptions): docker.Network {
  return privateNetwork(
    "accounting-network",
    spec.networks.accounting,
    { driver: "bridge", labels: dockerLabels(spec, NETWORK_ROLES.accounting), internal: true },
    opts,
  );
}

/**
 * The monitoring network: Prometheus, Alertmanager, the node exporter, Grafana and the Slurm
 * exporter. Not internal: Prometheus scrapes other machines' node exporters where they publish
 * them, Alertmanager calls its webhook, and these containers publish their ports on the host.
 */
export function monitoringNetwork(spec: Pick<ClusterSpec, "networks" | "labels">, opts: pulumi.CustomResourceOptions): docker.Network {
  return privateNetwork(
    "monitoring-network",
    spec.networks.monitoring,
    { driver: "bridge", labels: dockerLabels(spec, NETWORK_ROLES.monitoring) },
    opts,
  );
}

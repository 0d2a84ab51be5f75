// Prometheus service discovery for the node exporters of the other machines of the cluster
// (workers stacks on a MacBook or a NAS): Slurm knows every node's address, so the controller's
// Prometheus asks the Slurm exporter (http_sd_configs) instead of a list kept by hand. Pure.

interface DiscoveredNode {
  name: string;
  address?: string;
  features?: string[];
}

/** One Prometheus http_sd target group. */
export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/**
 * The node exporter of each other machine: one target per address that nodes of another
 * partition (their first feature is their machine's partition) registered from, at `port`.
 * The cluster's own machine is left out: its node exporter is scraped on the cluster network.
 */
export function otherMachines(nodes: { nodes?: DiscoveredNode[] }, own: { cluster: string; partition: string; port: number }): TargetGroup[] {
  const byAddress = new Map<string, { machine: string; nodes: string[] }>();
  for (const node of nodes.nodes ?? []) {
    const features = node.features ?? [];
    if (!node.address || features.includes(own.partition)) continue;
    const entry = byAddress.get(node.address) ?? { machine: features[0] ?? "unknown", nodes: [] };
    entry.nodes.push(node.name);
    byAddress.set(node.address, entry);
  }
  return [...byAddress.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([address, { machine, nodes: names }]) => ({
      targets: [`${address}:${own.port}`],
      labels: { cluster: own.cluster, machine, slurm_nodes: names.sort().join(",") },
    }));
}

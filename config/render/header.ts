import { ClusterSpec } from "../spec";

/** The comment block every rendered file starts with, naming the stack it belongs to. */
export function renderHeader(file: string, spec: ClusterSpec): string {
  return [
    `# ${file} for Slurm cluster "${spec.clusterName}" (Pulumi project ${spec.project}, stack ${spec.stack}).`,
    `# Rendered by slurm-cluster from the stack config: change the config, not this file.`,
  ].join("\n");
}

/** Joins sections (arrays of lines) with one blank line between them and a trailing newline. */
export function joinSections(sections: string[][]): string {
  return sections.map((lines) => lines.join("\n")).join("\n\n") + "\n";
}

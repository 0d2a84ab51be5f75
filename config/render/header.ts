import { ClusterSpec } from "../spec";

/** What names a rendered file's stack: its header reads only these. */
export type StackNames = Pick<ClusterSpec, "clusterName" | "project" | "stack">;

/** The comment block every rendered file starts with, naming the stack it belongs to. */
export function renderHeader(file: string, spec: StackNames): string {
  return [
    `# ${file} for Slurm cluster "${spec.clusterName}" (Pulumi project ${spec.project}, stack ${spec.stack}).`,
    `# Rendered by slurm-cluster from the stack config: change the config, not this file.`,
  ].join("\n");
}

/** Joins sections (arrays of lines) with one blank line between them and a trailing newline. */
export function joinSections(sections: string[][]): string {
  return sections.filter((lines) => lines.length > 0).map((lines) => lines.join("\n")).join("\n\n") + "\n";
}

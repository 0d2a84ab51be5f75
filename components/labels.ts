import { ROLE_LABEL } from "../config/spec";
import { ClusterSpec } from "../config";

/** Docker labels (provider shape) naming project, stack and role, so tear-down finds everything. */
export function dockerLabels(spec: Pick<ClusterSpec, "labels">, role: string): { label: string; value: string }[] {
  return Object.entries({ ...spec.labels, [ROLE_LABEL]: role }).map(([label, value]) => ({ label, value }));
}

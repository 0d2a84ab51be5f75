// Secret outputs masked at any depth on the Automation API path, as `pulumi stack output --json`
// masks them. The Automation API gives each top-level output's plain value and a `secret` flag
// that is true only when the whole output is secret; a secret inside an object (the database
// password, the munge key in `join`) comes back in plain text. The stack's exported state marks
// every secret where it sits, so the plain values are walked beside it.
import type { OutputMap } from "@pulumi/pulumi/automation";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";

const MASK = "[secret]";

function isSecretMarker(stored: unknown): boolean {
  return stored !== null && typeof stored === "object" && (stored as Record<string, unknown>)[specialSigKey] === specialSecretSig;
}

/** `plain` with every part that `stored` marks secret masked; a part `stored` does not have is masked too. */
function maskLike(plain: unknown, stored: unknown): unknown {
  if (stored === undefined || isSecretMarker(stored)) return MASK;
  if (Array.isArray(plain)) return plain.map((v, i) => maskLike(v, Array.isArray(stored) ? stored[i] : undefined));
  if (plain !== null && typeof plain === "object") {
    const storedObject = stored !== null && typeof stored === "object" ? (stored as Record<string, unknown>) : {};
    return Object.fromEntries(Object.entries(plain).map(([k, v]) => [k, maskLike(v, storedObject[k])]));
  }
  return plain;
}

/** The root stack resource's outputs in an exported deployment (`Stack.exportStack()`), secrets still marked. */
export function exportedStackOutputs(exported: { deployment?: unknown }): Record<string, unknown> | undefined {
  const resources = (exported.deployment as { resources?: { type?: string; outputs?: Record<string, unknown> }[] } | undefined)?.resources ?? [];
  return resources.find((r) => r.type === "pulumi:pulumi:Stack")?.outputs;
}

/**
 * The outputs as `pulumi stack output --json` prints them: whole secret outputs and secrets at
 * any depth as "[secret]". Without the exported outputs nothing can be told apart, so all is masked.
 */
export function maskedOutputs(outputs: OutputMap, stored: Record<string, unknown> | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(outputs).map(([k, o]) => [k, o.secret || stored === undefined ? MASK : maskLike(o.value, stored[k])]));
}

// Stack outputs as the runner keeps them (secret leaves wrapped) and as `pulumi stack output
// --json` prints them. Reading them needs only the state file: no Pulumi SDK, no Docker.
import { loadState } from "./state";

/** A stack output value with its secrets resolved: a secret leaf is wrapped as { secret: value }. */
export type ResolvedOutput =
  | string
  | number
  | boolean
  | null
  | { secret: ResolvedOutput }
  | ResolvedOutput[]
  | { [key: string]: ResolvedOutput };

/** What `pulumi stack output --json` prints: secrets, at any depth, as "[secret]" unless showSecrets. */
export function printableOutputs(value: ResolvedOutput, showSecrets: boolean): unknown {
  if (Array.isArray(value)) return value.map((v) => printableOutputs(v, showSecrets));
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "secret") {
      return showSecrets ? printableOutputs((value as { secret: ResolvedOutput }).secret, true) : "[secret]";
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, printableOutputs(v, showSecrets)]));
  }
  return value;
}

/** The outputs of the last successful `up`, as `pulumi stack output --json` would print them. */
export function lastOutputs(stack: string, showSecrets: boolean): unknown {
  const state = loadState(stack);
  if (state.outputs === undefined) throw new Error(`stack ${stack} has no outputs yet; run local:up first`);
  return printableOutputs(state.outputs as ResolvedOutput, showSecrets);
}

// The runner's state between runs, like a Pulumi backend's checkpoint: for every resource the
// program declared, its id, the inputs it was created or updated with, its outputs, what it
// depends on and its options. `up` plans from this, never from what happens to be in Docker;
// only `--refresh` reads Docker into it. Kept in .local-state/<stack>.json, mode 0600; its secret
// values (munge key, passwords, ...) are encrypted there (state-secrets.ts), as in a Pulumi checkpoint.
import * as fs from "fs";
import * as path from "path";
import { PROJECT_ROOT } from "../config/project";
import { SecretsKey, decrypt, encrypt, isEncrypted, secretsKey } from "./state-secrets";

type Inputs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface StateResource {
  type: string;
  name: string;
  id: string;
  inputs: Inputs;
  outputs: Inputs;
  /** Keys of the resources this one depends on (explicit dependsOn and inputs from their outputs). */
  dependencies: string[];
  /** For each input, the keys of the resources its value came from (the engine's property dependencies). */
  inputDependencies?: Record<string, string[]>;
  /** Deleted ahead of a replacement of something it depends on: its next registration creates it again. */
  deletedForReplacement?: boolean;
  /** Key of the explicit provider resource it was created with (undefined: the default provider). */
  provider?: string;
  retainOnDelete?: boolean;
  /** The `protect` option: neither deleted nor replaced while set. */
  protect?: boolean;
  /** The `customTimeouts` option, as the program last gave it (delete uses it). */
  customTimeouts?: { create?: string; update?: string; delete?: string };
  /** Inputs and outputs (top-level names) that hold secrets: encrypted in the state file. */
  secretInputs?: string[];
  secretOutputs?: string[];
  /** Refresh found the container stopped: the next `up` starts it (the provider's must_run). */
  stopped?: boolean;
  /** Created, but its create did not finish (e.g. never healthy): the next `up` updates it. */
  initErrors?: boolean;
}

export interface SavedState {
  version: 2;
  resources: Record<string, StateResource>;
  /** Replaced resources whose old copy is still to be deleted (create-before-delete). */
  pendingDeletes?: StateResource[];
  outputs?: unknown;
  /** How the state file's secrets are encrypted (the passphrase's salt, or the key file). */
  secrets?: SecretsKey["describe"];
}

type Crypt = (value: unknown) => unknown;

/** The state with every secret value passed through `crypt` (encrypt to save, decrypt to load). */
function mapSecrets(state: SavedState, crypt: Crypt): SavedState {
  const resource = (r: StateResource): StateResource => {
    const inputs = { ...r.inputs };
    const outputs = { ...r.outputs };
    for (const k of r.secretInputs ?? []) if (k in inputs) inputs[k] = crypt(inputs[k]);
    for (const k of r.secretOutputs ?? []) if (k in outputs) outputs[k] = crypt(outputs[k]);
    return { ...r, inputs, outputs };
  };
  // Stack outputs: a secret leaf is { secret: value } (ResolvedOutput).
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object") {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === "secret") return { secret: crypt((v as { secret: unknown }).secret) };
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return {
    ...state,
    resources: Object.fromEntries(Object.entries(state.resources).map(([k, r]) => [k, resource(r)])),
    pendingDeletes: state.pendingDeletes?.map(resource),
    outputs: state.outputs === undefined ? undefined : walk(state.outputs),
  };
}

export const STATE_DIR = path.join(PROJECT_ROOT, ".local-state");

export function stateFile(stack: string): string {
  return path.join(STATE_DIR, `${stack}.json`);
}

/** The key of a resource in state: its type and name, which are unique in this program. */
export function resourceKey(type: string, name: string): string {
  return `${type}::${name}`;
}

/** A resource key from a URN (`urn:pulumi:stack::project::parent$type::name`). */
export function keyFromUrn(urn: string): string {
  const parts = urn.split("::");
  const name = parts.slice(3).join("::");
  const type = parts[2].split("$").pop() ?? parts[2];
  return resourceKey(type, name);
}

export function loadState(stack: string): SavedState {
  const file = stateFile(stack);
  if (!fs.existsSync(file)) return { version: 2, resources: {} };
  const saved = JSON.parse(fs.readFileSync(file, "utf8")) as SavedState | { version?: undefined };
  if (saved.version !== 2) {
    throw new Error(
      `${file} was written by an older runner that kept no inputs; remove the stack's containers and that file ` +
        `(npm run local:down -- ${stack} --volumes) and run up again`,
    );
  }
  const hasSecrets = JSON.stringify(saved).includes('"ciphertext"');
  if (!hasSecrets) return saved;
  const { key } = secretsKey(saved.secrets);
  return mapSecrets(saved, (v) => (isEncrypted(v) ? decrypt(key, v) : v));
}

export function saveState(stack: string, state: SavedState): void {
  fs.mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
  const file = stateFile(stack);
  const { key, describe } = secretsKey(state.secrets);
  state.secrets = describe;
  const sealed = mapSecrets(state, (v) => encrypt(key, v));
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(sealed, null, 2), { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
}

export function removeState(stack: string): void {
  fs.rmSync(stateFile(stack), { force: true });
}

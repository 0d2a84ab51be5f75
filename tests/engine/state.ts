// The engine's memory between runs, like a Pulumi backend's state: the outputs of resources
// Docker cannot remember for us (random values, dynamic resources). Kept in .local-state/<stack>.json,
// mode 0600, because it holds the munge key and database password in plain text.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_ROOT } from "./program";

export interface SavedResource {
  id: string;
  inputsHash: string;
  outputs: Record<string, unknown>;
}

export interface SavedState {
  resources: Record<string, SavedResource>;
  outputs?: unknown;
}

export const STATE_DIR = path.join(PROJECT_ROOT, ".local-state");

export function stateFile(stack: string): string {
  return path.join(STATE_DIR, `${stack}.json`);
}

export function loadState(stack: string): SavedState {
  const file = stateFile(stack);
  if (!fs.existsSync(file)) return { resources: {} };
  return JSON.parse(fs.readFileSync(file, "utf8")) as SavedState;
}

export function saveState(stack: string, state: SavedState): void {
  fs.mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
  const file = stateFile(stack);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2), { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
}

export function removeState(stack: string): void {
  fs.rmSync(stateFile(stack), { force: true });
}

/** A stable hash of resource inputs (key order does not matter). */
export function hashInputs(inputs: unknown): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
    }
    return v;
  };
  return crypto.createHash("sha256").update(JSON.stringify(canonical(inputs))).digest("hex");
}

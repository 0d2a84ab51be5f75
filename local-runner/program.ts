// Runs the real Pulumi program (index.ts) in-process through Pulumi's mock monitor.
// Every resource registration reaches `mocks.newResource` with the exact provider inputs, in
// dependency order; what the mocks do with it (record it, or apply it to Docker) is the caller's.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT_NAME } from "../config/project";
import { ResolvedOutput } from "./outputs";
import { withPlainPulumiPromiseTraces } from "./promise-stacks";

export { PROJECT_NAME, PROJECT_ROOT } from "../config/project";
export { printableOutputs } from "./outputs";
export type { ResolvedOutput } from "./outputs";

interface RunResult {
  outputs: Record<string, ResolvedOutput>;
  /** Errors thrown while registering resources (each also failed the resources depending on it). */
  errors: Error[];
}

/** Resolves Outputs inside plain objects and arrays, keeping track of which leaves are secret. */
async function resolveOutputs(value: unknown): Promise<ResolvedOutput> {
  if (pulumi.Output.isInstance(value)) {
    const o = value as pulumi.Output<unknown> & { promise(): Promise<unknown>; isSecret: Promise<boolean> };
    const [inner, secret] = await Promise.all([o.promise(), o.isSecret]);
    const resolved = await resolveOutputs(inner);
    return secret ? { secret: resolved } : resolved;
  }
  if (value instanceof Promise) return resolveOutputs(await value);
  if (Array.isArray(value)) return Promise.all(value.map(resolveOutputs));
  if (value !== null && typeof value === "object") {
    const entries = await Promise.all(
      Object.entries(value).map(async ([k, v]) => [k, await resolveOutputs(v)] as const),
    );
    return Object.fromEntries(entries);
  }
  return (value ?? null) as ResolvedOutput;
}

/** What the program told the engine about a resource besides its inputs. */
export interface RegistrationDetails {
  /** URNs of the resources it depends on (dependsOn, parents' dependsOn, and inputs from outputs). */
  dependencies: string[];
  parent: string;
  retainOnDelete?: boolean;
  deleteBeforeReplace?: boolean;
  replaceOnChanges: string[];
  ignoreChanges: string[];
  /** For each input, the URNs of the resources its value came from. */
  propertyDependencies?: Record<string, string[]>;
  protect?: boolean;
  /** customTimeouts, as Go durations ("5m"); empty when unset. */
  customTimeouts?: { create?: string; update?: string; delete?: string };
  /** Earlier identities of the resource (aliases): a URN, or a name and/or type to look under. */
  aliases?: { urn?: string; name?: string; type?: string }[];
  additionalSecretOutputs?: string[];
  /** Options set on the registration that the runner does not implement (it refuses them). */
  unsupported?: string[];
}

export type RegistrationArgs = pulumi.runtime.MockResourceArgs & { details: RegistrationDetails };

export interface ProgramMocks {
  newResource(args: RegistrationArgs): Promise<pulumi.runtime.MockResourceResult>;
  call(args: pulumi.runtime.MockCallArgs): Record<string, unknown>;
}

/** The registration request's options, which the mock monitor does not pass on to newResource. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function detailsOf(req: any): RegistrationDetails {
  return {
    dependencies: req.getDependenciesList(),
    parent: req.getParent(),
    retainOnDelete: req.hasRetainondelete?.() ? req.getRetainondelete() : undefined,
    deleteBeforeReplace: req.getDeletebeforereplacedefined() ? req.getDeletebeforereplace() : undefined,
    replaceOnChanges: req.getReplaceonchangesList(),
    ignoreChanges: req.getIgnorechangesList(),
    propertyDependencies: propertyDependenciesOf(req),
    protect: req.getProtect?.() === true,
    customTimeouts: customTimeoutsOf(req),
    aliases: aliasesOf(req),
    additionalSecretOutputs: req.getAdditionalsecretoutputsList?.() ?? [],
    unsupported: unsupportedOptionsOf(req),
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function customTimeoutsOf(req: any): RegistrationDetails["customTimeouts"] {
  const t = req.getCustomtimeouts?.();
  if (!t) return {};
  const pick = (v: string) => (v ? v : undefined);
  return { create: pick(t.getCreate()), update: pick(t.getUpdate()), delete: pick(t.getDelete()) };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function aliasesOf(req: any): RegistrationDetails["aliases"] {
  const urns = (req.getAliasurnsList?.() ?? []).map((urn: string) => ({ urn }));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const specs = (req.getAliasesList?.() ?? []).map((a: any) => {
    const urn = a.getUrn?.();
    if (urn) return { urn };
    const spec = a.getSpec();
    return { name: spec.getName() || undefined, type: spec.getType() || undefined };
  });
  return [...urns, ...specs];
}

/** Options a program may set that the runner has no implementation for. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function unsupportedOptionsOf(req: any): string[] {
  const set: [string, boolean][] = [
    ["import", !!req.getImportid?.()],
    ["deletedWith", !!req.getDeletedwith?.()],
    ["replaceWith", (req.getReplaceWithList?.() ?? []).length > 0],
    ["replacementTrigger", !!req.getReplacementTrigger?.()],
    ["hideDiffs", (req.getHidediffsList?.() ?? []).length > 0],
    ["hooks", !!req.getHooks?.()],
    ["transforms", (req.getTransformsList?.() ?? []).length > 0],
    ["envVarMappings", (req.getEnvvarmappingsMap?.()?.getLength?.() ?? 0) > 0],
  ];
  return set.filter(([, on]) => on).map(([name]) => name);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function propertyDependenciesOf(req: any): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  req.getPropertydependenciesMap?.().forEach((deps: any, prop: string) => (out[prop] = deps.getUrnsList()));
  return out;
}

/**
 * Runs index.ts for `stack` with raw config (`namespace:key` -> string) against the given mocks;
 * `preview` runs it as `pulumi preview` does (pulumi.runtime.isDryRun(), unknown outputs).
 */
export async function runProgram(stack: string, config: Record<string, string>, mocks: ProgramMocks, preview = false): Promise<RunResult> {
  const errors: Error[] = [];
  const pending = new Map<string, RegistrationDetails>();
  const recordingMocks: pulumi.runtime.Mocks = {
    async newResource(args) {
      try {
        const key = `${args.type}::${args.name}`;
        const details = pending.get(key) ?? { dependencies: [], parent: "", replaceOnChanges: [], ignoreChanges: [] };
        pending.delete(key);
        return await mocks.newResource({ ...args, details });
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        errors.push(e);
        throw e;
      }
    },
    call: (args) => mocks.call(args),
  };
  // A failed registration also rejects promises only the Pulumi runtime holds; they are the same
  // failures as in `errors`, or failures of resources that depended on them. Keep them as errors
  // instead of letting Node end the process on an "unhandled" rejection.
  const onUnhandled = (reason: unknown) => {
    const e = reason instanceof Error ? reason : new Error(String(reason));
    if (!errors.some((known) => e === known || e.message.includes(known.message))) errors.push(e);
  };
  process.on("unhandledRejection", onUnhandled);
  // A resource whose input comes from a failed one is never registered: the Pulumi SDK leaves its
  // promises pending, as under `pulumi up`, where the program then ends with the errors it logged.
  // Here the same shows as Node's event loop running dry ("beforeExit"): end the run with them.
  let onIdle = () => undefined as void;
  const stalled = new Promise<RunResult>((resolve) => {
    onIdle = () =>
      resolve({
        outputs: {},
        errors: errors.length > 0 ? [...errors] : [new Error("the program stopped with resources still waiting for their inputs, and no error")],
      });
    process.once("beforeExit", onIdle);
  });
  try {
    return await withPlainPulumiPromiseTraces(() => Promise.race([runRegistered(stack, config, recordingMocks, errors, preview, pending), stalled]));
  } finally {
    process.off("beforeExit", onIdle);
    await new Promise((r) => setImmediate(r));
    process.off("unhandledRejection", onUnhandled);
  }
}

async function runRegistered(
  stack: string,
  config: Record<string, string>,
  recordingMocks: pulumi.runtime.Mocks,
  errors: Error[],
  preview: boolean,
  pending: Map<string, RegistrationDetails>,
): Promise<RunResult> {
  pulumi.runtime.setAllConfig(config, []);
  await pulumi.runtime.setMocks(recordingMocks, PROJECT_NAME, stack, preview);
  // Keep each request's options (dependencies, retainOnDelete, ...) for newResource to read.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const monitor = pulumi.runtime.getMonitor() as any;
  const register = monitor.registerResource.bind(monitor);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  monitor.registerResource = (req: any, callback: any) => {
    pending.set(`${req.getType()}::${req.getName()}`, detailsOf(req));
    return register(req, callback);
  };

  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const program: () => Promise<Record<string, unknown>> = require(path.join(__dirname, "..", "index"));
  let returned: Record<string, unknown> = {};
  let programError: unknown;
  let stackError: unknown;
  try {
    await pulumi.runtime.runInPulumiStack(async () => {
      // Caught here, not outside: a rejected stack init also rejects promises nobody awaits.
      try {
        returned = await program();
      } catch (err) {
        programError = err;
      }
      return returned;
    });
  } catch (err) {
    // Stack outputs that depend on a failed resource: the resource's own error is in `errors`.
    stackError = err;
  }
  let outputs: Record<string, ResolvedOutput> = {};
  if (programError === undefined && stackError === undefined) {
    try {
      outputs = (await resolveOutputs(returned)) as Record<string, ResolvedOutput>;
    } catch (err) {
      if (errors.length === 0) errors.push(err instanceof Error ? err : new Error(String(err)));
    }
  }
  // Let every registration still in flight finish (or fail) before reporting.
  await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
  if (programError !== undefined) throw programError;
  if (stackError !== undefined && errors.length === 0) errors.push(stackError instanceof Error ? stackError : new Error(String(stackError)));
  return { outputs, errors };
}

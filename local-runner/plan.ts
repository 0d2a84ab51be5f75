// Pure planning, as the Pulumi engine does it with the providers' diffs: what one registration
// does to the resource in state (create, same, update, replace), and in which order resources
// that are no longer declared are deleted. No Docker here: unit tests pin every rule.
import { InputEffect, behaviourOf, inputEffect } from "./provider-table";
import { StateResource } from "./state";

export type Inputs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Resource options the runner honours, as the program passed them to the engine. */
interface ResourceOptions {
  retainOnDelete?: boolean;
  /** The program's deleteBeforeReplace (undefined: the provider's default). */
  deleteBeforeReplace?: boolean;
  replaceOnChanges?: string[];
}

type StepKind = "create" | "same" | "update" | "replace";

export interface Step {
  kind: StepKind;
  /** Changed inputs with what each does (empty for same and create). */
  changes: { input: string; effect: InputEffect }[];
  /** Delete the old resource before creating its replacement. */
  deleteBeforeReplace: boolean;
}

/** A value the program does not know yet (preview): compared as a change. */
const UNKNOWN = "<unknown>";

function canonical(value: unknown): string {
  const walk = (v: unknown): unknown => {
    if (typeof v === "symbol" || typeof v === "function") return UNKNOWN;
    if (v !== null && typeof v === "object" && "__pulumiUnknown" in v) return UNKNOWN;
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(
        Object.keys(v)
          .filter((k) => (v as Inputs)[k] !== undefined)
          .sort()
          .map((k) => [k, walk((v as Inputs)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(walk(value)) ?? "undefined";
}

/** Top-level inputs whose values differ (a missing input and an undefined one are the same). */
export function changedInputs(olds: Inputs, news: Inputs): string[] {
  const keys = new Set([...Object.keys(olds), ...Object.keys(news)]);
  return [...keys].filter((k) => canonical(olds[k]) !== canonical(news[k])).sort();
}

/**
 * The step for one registration of a provider-backed resource. `old` is undefined for a resource
 * not in state. A container that refresh found stopped is updated (started), as the provider's
 * must_run does; one that failed to become healthy last time (initErrors) is updated once more.
 */
export function planStep(type: string, old: StateResource | undefined, news: Inputs, options: ResourceOptions): Step {
  const behaviour = behaviourOf(type);
  const deleteBeforeReplace = options.deleteBeforeReplace ?? (behaviour.deleteBeforeReplace || (behaviour.autonamed === true && news.name !== undefined));
  if (!old) return { kind: "create", changes: [], deleteBeforeReplace };
  const changes = changedInputs(old.inputs, news).map((input) => ({
    input,
    effect: (options.replaceOnChanges ?? []).some((k) => k === "*" || k === input) ? ("replace" as const) : inputEffect(type, input),
  }));
  if (old.stopped) changes.push({ input: "mustRun", effect: "update" });
  if (changes.some((c) => c.effect === "replace")) return { kind: "replace", changes, deleteBeforeReplace };
  if (changes.length > 0 || old.initErrors) return { kind: "update", changes, deleteBeforeReplace };
  return { kind: "same", changes, deleteBeforeReplace };
}

/**
 * Deletion order: a resource goes before everything it depends on (dependents first), as
 * `pulumi up` and `pulumi destroy` delete. Keys missing from `all` are ignored.
 */
export function deletionOrder(keys: string[], all: Record<string, Pick<StateResource, "dependencies">>): string[] {
  const wanted = new Set(keys);
  const ordered: string[] = [];
  const visiting = new Set<string>();
  const done = new Set<string>();
  // Depth-first over "depends on" gives dependencies before dependents; reversed, dependents first.
  const visit = (key: string) => {
    if (done.has(key) || visiting.has(key)) return;
    visiting.add(key);
    for (const dep of all[key]?.dependencies ?? []) if (wanted.has(dep)) visit(dep);
    visiting.delete(key);
    done.add(key);
    ordered.push(key);
  };
  for (const key of [...keys].sort()) visit(key);
  return ordered.reverse();
}

/** One line of a plan, as `pulumi preview` prints it. */
export function describeStep(kind: StepKind | "delete", type: string, name: string, changes: Step["changes"] = []): string {
  const mark = { create: "+ create ", same: "  same   ", update: "~ update ", replace: "+-replace", delete: "- delete " }[kind];
  const shown = changes.map((c) => (c.effect === "replace" ? `${c.input} (forces replacement)` : c.effect === "ignored" ? `${c.input} (not applied by the provider)` : c.input));
  return `${mark} ${type} ${name}${shown.length > 0 ? `: ${shown.join(", ")}` : ""}`;
}

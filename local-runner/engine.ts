// The local runner: runs the real program through Pulumi's mock monitor and does what `pulumi up`,
// `pulumi preview`, `pulumi refresh` and `pulumi destroy` would do with the docker and random
// providers, on the local Docker engine. It stands in for the Pulumi CLI and its provider plugins,
// which cannot be downloaded on the build machine. It plans from its own state (state.ts) with the
// providers' update/replace table (provider-table.ts), so it repairs, waits for and replaces
// exactly what the real providers would, and nothing more.
import * as crypto from "crypto";
import * as path from "path";
import Docker from "dockerode";
import * as pulumi from "@pulumi/pulumi";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const requireFromString: (code: string, filename?: string) => { handler(): pulumi.dynamic.ResourceProvider } = require("require-from-string");
import { DockerResources, PartialCreateError, Progress, ReadResult } from "./docker-resources";
import { Inputs, Step, changedInputs, deletionOrder, describeStep, planStep } from "./plan";
import { behaviourOf, inputEffect } from "./provider-table";
import { PROJECT_ROOT, RegistrationArgs, ProgramMocks, printableOutputs, ResolvedOutput, runProgram } from "./program";
import { readStackConfig, saveConfigOverrides } from "./stack-config";
import { durationNs } from "./durations";
import { TLS_PRIVATE_KEY, checkPrivateKeyInputs, createPrivateKey } from "./tls-private-key";
import { SavedState, StateResource, keyFromUrn, loadState, removeState, resourceKey, saveState } from "./state";
import { STACK_LABEL, PROJECT_LABEL } from "../config/spec";
import { EngineAccessError, connectEngine, engineAddressProblem, resolveDockerHost } from "../docker/engine";

export { lastOutputs } from "./outputs";

interface RunOptions {
  overrides?: string[];
  progress?: Progress;
  /** Read the engine's real state into the runner's state first (`pulumi up --refresh`). */
  refresh?: boolean;
  /** Keep starting steps after one failed (`pulumi up --continue-on-error`). */
  continueOnError?: boolean;
}

/** A registration that reached the runner after an earlier step failed: the Pulumi engine starts no new step then. */
export class StepNotStartedError extends Error {}

/** How a Deployment reaches Docker; tests hand in an in-memory engine. */
type DockerFactory = (host: string) => Docker;

interface UpResult {
  outputs: Record<string, ResolvedOutput>;
  seconds: number;
  /** One line per resource that changed (create, update, replace, delete). */
  changes: string[];
}

interface PreviewResult {
  /** One line per resource that would change; unchanged resources are counted, not listed. */
  changes: string[];
  counts: Record<"create" | "update" | "replace" | "delete" | "same", number>;
}

const DYNAMIC = "pulumi-nodejs:dynamic";
const STACK_REFERENCE = "pulumi:pulumi:StackReference";
const CONTAINER = "docker:index/container:Container";

function randomString(length: number, args: Inputs): string {
  const sets = [
    args.upper !== false ? "ABCDEFGHIJKLMNOPQRSTUVWXYZ" : "",
    args.lower !== false ? "abcdefghijklmnopqrstuvwxyz" : "",
    args.numeric !== false ? "0123456789" : "",
    args.special !== false ? (args.overrideSpecial ?? "!@#$%&*()-_=+[]{}<>:?") : "",
  ].join("");
  return Array.from({ length }, () => sets[crypto.randomInt(sets.length)]).join("");
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d"; // Pulumi's marker for a secret value on the wire

/** The mock monitor hands nested secrets over still wrapped; providers see plain values. */
export function unwrapSecrets(value: unknown): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if (SECRET_SIG in obj) return unwrapSecrets(obj.value);
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

function dynamicProvider(inputs: Inputs): pulumi.dynamic.ResourceProvider {
  return requireFromString(inputs.__provider, path.join(PROJECT_ROOT, "dynamic-provider.js")).handler();
}

function defaultProgress(stack: string): Progress {
  return (line: string) => process.stderr.write(`[local:${stack}] ${line}\n`);
}

/**
 * A step that fails after the program's customTimeouts (a Go duration such as "5m"), as the provider call is cancelled.
 * The work itself cannot be cancelled here: `late` is handed it when the step has failed, so what it still
 * does (a container it goes on to create) can be recorded, as the engine records what a provider created.
 */
async function withTimeout<T>(work: Promise<T>, timeout: string | undefined, what: string, late?: (work: Promise<T>) => void): Promise<T> {
  const ms = timeout ? (durationNs(timeout) ?? 0) / 1e6 : 0;
  if (!ms) return work;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late?.(work);
      reject(new Error(`${what}: timed out after ${timeout} (customTimeouts)`));
    }, ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Outputs a provider always marks secret (pulumi-random's and pulumi-tls's schemas). */
const SECRET_OUTPUTS: Record<string, string[]> = {
  "random:index/randomPassword:RandomPassword": ["result", "bcryptHash"],
  "random:index/randomBytes:RandomBytes": ["base64", "hex"],
  [TLS_PRIVATE_KEY]: ["privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8"],
};

/**
 * The provider's Check, before anything is planned (so a preview fails too): for tls.PrivateKey
 * its validators and defaults. Other types' inputs are used as the program gave them.
 */
function checkInputs(type: string, name: string, inputs: Inputs): Inputs {
  return type === TLS_PRIVATE_KEY ? checkPrivateKeyInputs(name, inputs) : inputs;
}

/** Which inputs arrived as secrets, and which outputs are secret: encrypted in the state file. */
function secretNames(args: RegistrationArgs): { secretInputs?: string[]; secretOutputs?: string[] } {
  const holds = (v: unknown): boolean =>
    Array.isArray(v) ? v.some(holds) : v !== null && typeof v === "object" ? SECRET_SIG in v || Object.values(v).some(holds) : false;
  const inputs = Object.keys(args.inputs).filter((k) => holds(args.inputs[k]));
  const outputs = [...new Set([...inputs, ...(SECRET_OUTPUTS[args.type] ?? []), ...(args.details.additionalSecretOutputs ?? [])])];
  return { secretInputs: inputs.length ? inputs : undefined, secretOutputs: outputs.length ? outputs : undefined };
}

/** Wraps the named top-level outputs as secrets on the wire (additionalSecretOutputs). */
export function markSecret(state: Inputs, names: string[]): Inputs {
  if (names.length === 0) return state;
  const wrapped = { ...state };
  const isWrapped = (v: unknown) => v !== null && typeof v === "object" && SECRET_SIG in v;
  // The SDK may list a name twice (pulumi-random merges its own list into the program's options):
  // a secret is marked once, or the program would see the marker object instead of the value.
  for (const n of new Set(names)) if (n in wrapped && !isWrapped(wrapped[n])) wrapped[n] = { [SECRET_SIG]: "1b47061264138c4ac30d75fd1eb44270", value: wrapped[n] };
  return wrapped;
}

/** One run of the program against the state: applies (up) or only plans (preview). */
export class Deployment {
  private readonly clients = new Map<string, DockerResources>();
  private readonly registered = new Set<string>();
  /** Resources replaced because something they are built on is replaced first (delete-before-replace). */
  private readonly dependentReplacements = new Set<string>();
  /** A step failed: as the Pulumi engine, start no new step unless continueOnError. */
  private failed = false;
  /** Creates that outlived their customTimeouts and are still running: recorded in state when they end. */
  private readonly lateCreates: Promise<void>[] = [];
  readonly changes: string[] = [];
  readonly counts = { create: 0, update: 0, replace: 0, delete: 0, same: 0 };

  constructor(
    private readonly stack: string,
    private readonly state: SavedState,
    private readonly defaultHost: string,
    private readonly progress: Progress,
    private readonly apply: boolean,
    private readonly options: { continueOnError?: boolean; docker?: DockerFactory } = {},
  ) {}

  private save(): void {
    if (this.apply) saveState(this.stack, this.state);
  }

  private note(kind: Step["kind"] | "delete", type: string, name: string, changes: Step["changes"] = []): void {
    this.counts[kind]++;
    if (kind === "same") return;
    const line = describeStep(kind, type, name, changes);
    this.changes.push(line);
    if (this.apply) this.progress(line);
  }

  /** The Docker engine a resource's provider points at (`docker:host`, or the provider's `host`). */
  private docker(providerKey: string | undefined): DockerResources {
    const provider = providerKey ? this.state.resources[providerKey]?.inputs : undefined;
    const host = (provider?.host as string | undefined) || this.defaultHost;
    // A TLS engine's provider carries certPath (docker/engine.ts dockerProviderArgs): the same files.
    const certPath = provider?.host ? (provider.certPath as string | undefined) : undefined;
    const key = `${host}|${certPath ?? ""}`;
    let client = this.clients.get(key);
    if (!client) {
      client = new DockerResources(this.options.docker ? this.options.docker(host) : connectEngine(host, process.env, certPath), this.progress);
      this.clients.set(key, client);
    }
    return client;
  }

  private providerKey(ref: string | undefined): string | undefined {
    return ref ? keyFromUrn(ref.slice(0, ref.lastIndexOf("::"))) : undefined;
  }

  readonly mocks: ProgramMocks = {
    newResource: (args) => this.register(args),
    call: (args) => {
      throw new Error(`local runner: function ${args.token} is not implemented`);
    },
  };

  async register(args: RegistrationArgs): Promise<pulumi.runtime.MockResourceResult> {
    if (!args.custom) return { id: undefined, state: args.inputs }; // components own nothing
    if (args.type === STACK_REFERENCE) return stackReference(String(args.inputs.name ?? args.id ?? args.name), this.stack);
    // pkg/resource/deploy/step_executor.go: after a step fails the executor cancels and starts no further step.
    if (this.apply && this.failed && !this.options.continueOnError) {
      throw new StepNotStartedError(`${args.name}: not started, an earlier step failed (up --continue-on-error applies what does not depend on it)`);
    }
    try {
      return await this.registerStep(args);
    } catch (err) {
      if (this.apply) this.failed = true;
      throw err;
    }
  }

  private async registerStep(args: RegistrationArgs): Promise<pulumi.runtime.MockResourceResult> {
    const key = resourceKey(args.type, args.name);
    this.registered.add(key);
    const inputs = checkInputs(args.type, args.name, unwrapSecrets(args.inputs));
    const { details } = args;
    if (details.ignoreChanges.length > 0) throw new Error(`local runner: ignoreChanges (on ${args.name}) is not implemented`);
    if (details.unsupported?.length) throw new Error(`local runner: resource option(s) ${details.unsupported.join(", ")} (on ${args.name}) are not implemented`);
    this.followAliases(key, args);
    const record = (id: string, outputs: Inputs, extra: Partial<StateResource> = {}) => {
      const before = JSON.stringify(this.state.resources[key]);
      this.state.resources[key] = {
        type: args.type,
        name: args.name,
        id,
        inputs,
        outputs,
        dependencies: details.dependencies.map(keyFromUrn).filter((k) => k !== key),
        inputDependencies: Object.fromEntries(Object.entries(details.propertyDependencies ?? {}).map(([input, urns]) => [input, urns.map(keyFromUrn)])),
        provider: this.providerKey(args.provider),
        retainOnDelete: details.retainOnDelete,
        protect: details.protect || undefined,
        ...secretNames(args),
        customTimeouts: details.customTimeouts && Object.values(details.customTimeouts).some(Boolean) ? details.customTimeouts : undefined,
        ...extra,
      };
      // A step that changed nothing (most of a no-change up) leaves the file as it is: rewriting
      // the whole state after each of 200 unchanged steps cost seconds on a 64-worker stack.
      if (JSON.stringify(this.state.resources[key]) !== before) this.save();
    };
    const result = await this.registerProviderBacked(key, args, inputs, record);
    // The engine marks additionalSecretOutputs secret in what it hands back to the program.
    return { ...result, state: markSecret(result.state, details.additionalSecretOutputs ?? []) };
  }

  private async registerProviderBacked(
    key: string,
    args: RegistrationArgs,
    inputs: Inputs,
    record: (id: string, outputs: Inputs, extra?: Partial<StateResource>) => void,
  ): Promise<pulumi.runtime.MockResourceResult> {
    const { details } = args;
    const old = this.state.resources[key];
    if (args.type.startsWith(DYNAMIC)) return this.registerDynamic(key, args, inputs, old, record);

    let step = planStep(args.type, old, inputs, details);
    // step_generator.go: a replacement of a resource protected in state and in the program is an error.
    if (step.kind === "replace" && old?.protect && details.protect) {
      throw new Error(`unable to replace resource ${args.name} as it is currently marked for protection; remove the protect flag from the program and run up`);
    }
    // Deleted (or, in a preview, to be deleted) ahead of the replacement of something it depends on.
    const replacedFirst = old !== undefined && (old.deletedForReplacement || this.dependentReplacements.has(key));
    if (replacedFirst) step = { ...step, kind: "replace", deleteBeforeReplace: true };
    if (step.kind === "replace" && step.deleteBeforeReplace && old) await this.replaceDependentsFirst(key, old);
    this.note(step.kind, args.type, args.name, step.changes);
    if (step.kind === "same") {
      record(old!.id, old!.outputs, {});
      return { id: old!.id, state: old!.outputs };
    }
    if (!this.apply) {
      // Preview: what the provider would report. New values are unknown until created.
      return step.kind === "update" ? { id: old!.id, state: { ...old!.outputs, ...inputs } } : { id: undefined, state: inputs };
    }
    const provider = this.providerKey(args.provider);
    const timeouts = details.customTimeouts ?? {};
    if (step.kind === "update") {
      const outputs = await withTimeout(this.update(old!, inputs, step, provider), timeouts.update, `updating ${args.name}`);
      record(old!.id, outputs);
      return { id: old!.id, state: outputs };
    }
    if (step.kind === "replace") {
      if (step.deleteBeforeReplace) {
        if (!old!.deletedForReplacement) await this.delete(old!);
        delete this.state.resources[key];
        this.save();
      } else {
        this.state.pendingDeletes = [...(this.state.pendingDeletes ?? []), old!];
      }
    }
    const creating = this.create(args.type, inputs, provider);
    // A create that ends after its step timed out made a resource all the same: it goes into state with
    // the error (initErrors, the next up updates it), as a provider's partial create does, never unknown.
    const lateCreate = (work: typeof creating) =>
      this.lateCreates.push(
        work.then(
          (done) => record(done.id, done.outputs, { initErrors: true, ...(done.running === false ? { stopped: true } : {}) }),
          (err) => (err instanceof PartialCreateError ? record(err.id, err.outputs, { initErrors: true }) : undefined),
        ),
      );
    try {
      const { id, outputs, running } = await withTimeout(creating, timeouts.create, `creating ${args.name}`, lateCreate);
      record(id, outputs, running === false ? { stopped: true } : {});
      return { id, state: outputs };
    } catch (err) {
      // A container created but never healthy stays in state, as the provider leaves it.
      if (err instanceof PartialCreateError) record(err.id, err.outputs, { initErrors: true });
      throw err;
    }
  }

  /**
   * A dynamic resource, called as the Pulumi host's dynamic provider server calls it
   * (sdk/nodejs/cmd/dynamic-provider): check(old inputs, news); diff(id, old outputs, news), and
   * without a diff (or changes undefined) the engine's own comparison of inputs, where any change is
   * an update; replace only on `replaces`, create-before-delete unless diff says deleteBeforeReplace;
   * a provider without update touches nothing (its outputs become empty, as the host's are).
   */
  private async registerDynamic(
    key: string,
    args: RegistrationArgs,
    inputs: Inputs,
    old: StateResource | undefined,
    record: (id: string, outputs: Inputs, extra?: Partial<StateResource>) => void,
  ): Promise<pulumi.runtime.MockResourceResult> {
    const provider = dynamicProvider(inputs);
    const withoutCode = ({ __provider: _code, ...rest }: Inputs) => rest;
    const props = withoutCode(inputs);
    const oldInputs = old ? withoutCode(old.inputs) : {};
    const news = provider.check ? ((await provider.check(oldInputs, props)).inputs ?? props) : props;
    const stored = { inputs: { ...news, __provider: inputs.__provider } };
    if (!old) {
      this.note("create", args.type, args.name);
      if (!this.apply) return { id: undefined, state: inputs };
      const { id, outs = {} } = await provider.create(news);
      record(id, { ...outs, __provider: inputs.__provider }, stored);
      return { id, state: outs };
    }
    const diff = provider.diff ? await provider.diff(old.id, old.outputs, news) : {};
    const changed = diff.changes ?? changedInputs(oldInputs, news).length > 0;
    if (!changed) {
      this.note("same", args.type, args.name);
      record(old.id, old.outputs, { inputs: old.inputs });
      return { id: old.id, state: old.outputs };
    }
    const replace = (diff.replaces?.length ?? 0) > 0;
    this.note(replace ? "replace" : "update", args.type, args.name, (diff.replaces ?? []).map((input) => ({ input, effect: "replace" as const })));
    if (!this.apply) return { id: old.id, state: inputs };
    let id = old.id;
    let outs: Inputs;
    if (replace) {
      if (diff.deleteBeforeReplace) {
        if (provider.delete) await provider.delete(old.id, old.outputs);
        delete this.state.resources[key];
        this.save();
      } else {
        this.state.pendingDeletes = [...(this.state.pendingDeletes ?? []), old];
      }
      ({ id, outs = {} } = await provider.create(news));
    } else {
      // The host's update: without provider.update the result is empty, so only __provider stays in the outputs.
      outs = provider.update ? ((await provider.update(old.id, old.outputs, news))?.outs ?? {}) : {};
    }
    record(id, { ...outs, __provider: inputs.__provider }, stored);
    return { id, state: outs };
  }

  /**
   * pkg/resource/deploy/step_generator.go calculateDependentReplacements: before a delete-before-replace,
   * every resource whose input comes from the replaced one and would be replaced by that input
   * changing (networksAdvanced, mounts: ForceNew) is deleted first, dependents first; it is created
   * again when the program registers it.
   */
  private async replaceDependentsFirst(key: string, old: StateResource): Promise<void> {
    const dependents = new Set<string>();
    const visit = (of: string) => {
      for (const [k, res] of Object.entries(this.state.resources)) {
        if (dependents.has(k) || res.deletedForReplacement || res.type.startsWith(DYNAMIC)) continue;
        const forcing = Object.entries(res.inputDependencies ?? {}).some(([input, deps]) => deps.includes(of) && inputEffect(res.type, input) === "replace");
        if (forcing) {
          dependents.add(k);
          visit(k);
        }
      }
    };
    visit(key);
    for (const k of deletionOrder([...dependents], this.state.resources)) {
      this.dependentReplacements.add(k);
      const res = this.state.resources[k];
      if (res.protect) throw new Error(`unable to replace resource ${res.name} as it is currently marked for protection (it is built on ${old.name}, which is replaced)`);
      if (!this.apply) continue;
      this.progress(`${res.name}: deleted before ${old.name} is replaced, as it is built on it`);
      await this.delete(res);
      res.deletedForReplacement = true;
      this.save();
    }
  }

  private async create(type: string, inputs: Inputs, provider: string | undefined): Promise<{ id: string; outputs: Inputs; running?: boolean }> {
    switch (type) {
      case "pulumi:providers:docker":
        return { id: crypto.randomUUID(), outputs: inputs };
      case "docker:index/network:Network":
        return this.docker(provider).createNetwork(inputs);
      case "docker:index/volume:Volume":
        return this.docker(provider).createVolume(inputs);
      case "docker:index/image:Image":
        return this.docker(provider).buildImage(inputs);
      case "docker:index/remoteImage:RemoteImage":
        return this.docker(provider).createRemoteImage(inputs);
      case CONTAINER:
        return this.docker(provider).createContainer(inputs);
      case "random:index/randomBytes:RandomBytes": {
        const bytes = crypto.randomBytes(inputs.length);
        return { id: "bytes", outputs: { ...inputs, base64: bytes.toString("base64"), hex: bytes.toString("hex") } };
      }
      case "random:index/randomPassword:RandomPassword":
        return { id: "none", outputs: { ...inputs, result: randomString(inputs.length, inputs) } };
      case TLS_PRIVATE_KEY:
        return createPrivateKey(inputs);
      default:
        throw new Error(`local runner: creating ${type} is not implemented`);
    }
  }

  private async update(old: StateResource, inputs: Inputs, step: Step, provider: string | undefined): Promise<Inputs> {
    const applied = step.changes.filter((c) => c.effect === "update").map((c) => c.input);
    switch (old.type) {
      case CONTAINER:
        return this.docker(provider).updateContainer(old.id, inputs, applied, applied.includes("mustRun"));
      case "docker:index/image:Image":
        return (await this.docker(provider).buildImage(inputs)).outputs;
      default:
        // Only ignored inputs changed: the provider records them and touches nothing.
        return { ...old.outputs, ...inputs };
    }
  }

  /** Waits for creates that outlived their timeout, each recorded in state when it ends. */
  async settled(): Promise<void> {
    while (this.lateCreates.length > 0) await Promise.all(this.lateCreates.splice(0));
  }

  async delete(res: StateResource): Promise<void> {
    return withTimeout(this.deleteUnprotected(res), res.customTimeouts?.delete, `deleting ${res.name}`);
  }

  /**
   * Aliases: a resource registered under a new name or type that state holds under an alias is
   * the same resource, moved to its new key (the engine's alias matching), not a create and a delete.
   */
  private followAliases(key: string, args: RegistrationArgs): void {
    if (this.state.resources[key]) return;
    for (const alias of args.details.aliases ?? []) {
      const from = alias.urn ? keyFromUrn(alias.urn) : resourceKey(alias.type ?? args.type, alias.name ?? args.name);
      const res = this.state.resources[from];
      if (!res || from === key) continue;
      if (this.apply) this.progress(`${args.name}: found in state under its alias ${res.name}`);
      this.state.resources[key] = { ...res, type: args.type, name: args.name };
      delete this.state.resources[from];
      // Everything that names it, in state and among the pending deletes, names its new key.
      const rename = (d: string) => (d === from ? key : d);
      for (const other of [...Object.values(this.state.resources), ...(this.state.pendingDeletes ?? [])]) {
        other.dependencies = other.dependencies.map(rename);
        if (other.inputDependencies) {
          other.inputDependencies = Object.fromEntries(Object.entries(other.inputDependencies).map(([input, deps]) => [input, deps.map(rename)]));
        }
      }
      return;
    }
  }

  private async deleteUnprotected(res: StateResource): Promise<void> {
    const docker = this.docker(res.provider);
    if (res.type.startsWith(DYNAMIC)) {
      const provider = dynamicProvider(res.outputs);
      if (provider.delete) await provider.delete(res.id, res.outputs);
      return;
    }
    switch (res.type) {
      case CONTAINER:
        return docker.deleteContainer(res.id, res.inputs);
      case "docker:index/network:Network":
        return docker.deleteNetwork(res.id, res.inputs.name);
      case "docker:index/volume:Volume":
        return docker.deleteVolume(res.inputs.name);
      case "docker:index/remoteImage:RemoteImage":
        return docker.deleteRemoteImage(res.inputs);
      default:
        behaviourOf(res.type); // known type whose provider deletes nothing (image, random, provider)
    }
  }

  /** Deletes what this run no longer declares and what replacements left behind, dependents first. */
  async deleteUndeclared(): Promise<void> {
    const pending = this.state.pendingDeletes ?? [];
    const gone = Object.keys(this.state.resources).filter((k) => !this.registered.has(k));
    const all: Record<string, StateResource> = { ...Object.fromEntries(gone.map((k) => [k, this.state.resources[k]])) };
    pending.forEach((res, i) => (all[`${resourceKey(res.type, res.name)}#replaced${i}`] = res));
    const protectedOnes: string[] = [];
    for (const key of deletionOrder(Object.keys(all), all)) {
      const res = all[key];
      const replaced = key.includes("#replaced");
      // The engine goes on past protected resources (deleteProtectedError) and fails the run at the end.
      // step.go deleteProtectedError: a protected resource is never deleted (a replaced one was unprotected first).
      if (res.protect && !replaced) {
        protectedOnes.push(res.name);
        continue;
      }
      if (!replaced) this.note("delete", res.type, res.name);
      if (!this.apply) continue;
      if (res.retainOnDelete) this.progress(`${res.name}: retained (retainOnDelete), not deleted`);
      else await this.delete(res);
      if (replaced) this.state.pendingDeletes = (this.state.pendingDeletes ?? []).filter((p) => p !== res);
      else delete this.state.resources[key];
      this.save();
    }
    if (this.apply && (this.state.pendingDeletes ?? []).length === 0) delete this.state.pendingDeletes;
    if (protectedOnes.length > 0) {
      throw new Error(`resource(s) ${protectedOnes.join(", ")} cannot be deleted because they are protected; remove the protect flag from the program and run up first`);
    }
  }

  /** `pulumi refresh`: what each provider's Read reports replaces what state says. */
  async refresh(): Promise<void> {
    for (const [key, res] of Object.entries(this.state.resources)) {
      let read: ReadResult = { exists: true };
      if (res.type.startsWith(DYNAMIC)) {
        const provider = dynamicProvider(res.outputs);
        if (provider.read) {
          const { props } = await provider.read(res.id, res.outputs);
          res.outputs = { ...props, __provider: res.outputs.__provider };
        }
      } else {
        const docker = this.docker(res.provider);
        const how = behaviourOf(res.type).refresh;
        if (how === "container") read = await docker.readContainer(res.id, res.inputs);
        else if (how === "exists" && res.type === "docker:index/network:Network") read = await docker.readNetwork(res.id);
        else if (how === "exists" && res.type === "docker:index/volume:Volume") read = await docker.readVolume(res.inputs.name);
        else if (how === "exists") read = await docker.readRemoteImage(res.inputs);
      }
      if (!read.exists) {
        this.progress(`refresh: ${res.name} no longer exists`);
        delete this.state.resources[key];
      } else {
        // As the bridge: what Read set (a stopped container too) becomes the state the next plan diffs against.
        if (read.inputs) res.inputs = read.inputs;
        if (read.running === false) {
          this.progress(`refresh: ${res.name} is stopped`);
          res.stopped = true;
        } else {
          if (read.outputs) res.outputs = read.outputs;
          delete res.stopped;
        }
      }
    }
    this.save();
  }
}

async function engineFor(config: Record<string, string>): Promise<string> {
  const host = resolveDockerHost(config["docker:host"]);
  // As the program's config validation: plain TCP only with consent, asked before the engine is.
  const problem = engineAddressProblem(host, config["slurm-cluster:allowInsecureDockerHost"] === "true", config["docker:host"] || !process.env.DOCKER_HOST ? "docker:host" : "DOCKER_HOST");
  if (problem) throw new Error(problem);
  await connectEngine(host).ping().catch((e: Error) => {
    if (e instanceof EngineAccessError) throw e;
    throw new Error(`no Docker engine answers at ${host} (${e.message}); start dockerd (scripts/start-docker.sh) first`);
  });
  return host;
}

/** `pulumi up [--refresh]`: brings `stack` up on the Docker engine; resolves to its outputs. */
export async function up(stack: string, options: RunOptions = {}): Promise<UpResult> {
  const progress = options.progress ?? defaultProgress(stack);
  saveConfigOverrides(stack, options.overrides ?? []); // as pulumi up/preview/destroy -c: saved for every later command
  const config = readStackConfig(stack);
  const host = await engineFor(config);
  const state = loadState(stack);
  const started = Date.now();
  const deployment = new Deployment(stack, state, host, progress, true, { continueOnError: options.continueOnError });
  if (options.refresh) await deployment.refresh();
  progress(`running the program for stack ${stack}`);
  // A create that timed out may still make its resource: it is recorded before the run ends, however it ends.
  const { outputs, errors } = await runProgram(stack, config, deployment.mocks).finally(() => deployment.settled());
  if (errors.length > 0) throw new Error(`stack ${stack} failed:\n${failureReport(errors)}`);
  await deployment.deleteUndeclared();
  state.outputs = outputs;
  saveState(stack, state);
  await warnAboutDrift(stack, state, host, progress);
  const c = deployment.counts;
  progress(`${c.create} created, ${c.update} updated, ${c.replace} replaced, ${c.delete} deleted, ${c.same} unchanged`);
  return { outputs, seconds: (Date.now() - started) / 1000, changes: deployment.changes };
}

/** The errors of a failed run: each failure once, and how many steps were not started after it. */
export function failureReport(errors: Error[]): string {
  const notStarted = errors.filter((e) => e instanceof StepNotStartedError);
  const failures = errors.filter((e) => !(e instanceof StepNotStartedError) && !notStarted.some((n) => e.message.includes(n.message)));
  const lines = failures.map((e) => e.message).join("\n---\n");
  return notStarted.length > 0 ? `${lines}\n(${notStarted.length} step(s) not started after the failure, as pulumi up stops; --continue-on-error applies them)` : lines;
}

/**
 * A plain `up` does not look at Docker, like the real one: it says when containers it manages are
 * not running, so the user knows to refresh. It changes nothing.
 */
async function warnAboutDrift(stack: string, state: SavedState, host: string, progress: Progress): Promise<void> {
  const docker = connectEngine(host);
  for (const res of Object.values(state.resources).filter((r) => r.type === CONTAINER)) {
    const info = await docker.getContainer(res.id).inspect().catch(() => undefined);
    if (!info || !info.State.Running) {
      progress(
        `warning: container ${res.inputs.name} is ${info ? "stopped" : "gone"}; up leaves changes made outside it alone ` +
          `(as pulumi up does): run up with --refresh to repair it`,
      );
    }
  }
}

/** `pulumi preview`: runs the program with preview=true and reports the plan, touching nothing. */
export async function preview(stack: string, options: RunOptions = {}): Promise<PreviewResult> {
  const progress = options.progress ?? defaultProgress(stack);
  saveConfigOverrides(stack, options.overrides ?? []); // as pulumi up/preview/destroy -c: saved for every later command
  const config = readStackConfig(stack);
  const host = await engineFor(config);
  const deployment = new Deployment(stack, loadState(stack), host, progress, false);
  const { errors } = await runProgram(stack, config, deployment.mocks, true);
  if (errors.length > 0) throw new Error(`preview of stack ${stack} failed:\n${errors.map((e) => e.message).join("\n---\n")}`);
  await deployment.deleteUndeclared();
  return { changes: deployment.changes, counts: deployment.counts };
}

interface DownResult {
  /** Resources deleted, as plan lines. */
  deleted: string[];
  /** Leftover Docker objects of the stack that were not in state (removed only with --volumes). */
  leftovers: string[];
}

/**
 * `pulumi destroy`: deletes every resource in state, dependents first, as the providers delete
 * (containers stopped with their destroyGraceSeconds, workers drained and removed from Slurm,
 * retained volumes kept). With `volumes` it is a clean slate instead, which `pulumi destroy` has
 * no word for: every Docker object labelled with the stack (retained volumes and leftovers of
 * runs whose state is gone included) is force-removed, and the runner's state is forgotten.
 */
export async function down(stack: string, options: { volumes?: boolean; progress?: Progress; overrides?: string[] } = {}): Promise<DownResult> {
  const progress = options.progress ?? defaultProgress(stack);
  saveConfigOverrides(stack, options.overrides ?? []); // as pulumi up/preview/destroy -c: saved for every later command
  const config = readStackConfig(stack);
  const host = await engineFor(config);
  const result: DownResult = { deleted: [], leftovers: [] };
  if (options.volumes) {
    const docker = connectEngine(host);
    const filters = { label: [`${PROJECT_LABEL}=slurm-cluster`, `${STACK_LABEL}=${stack}`] };
    const containers = await docker.listContainers({ all: true, filters });
    await Promise.all(
      containers.map(async (c) => {
        await docker.getContainer(c.Id).remove({ force: true });
        result.leftovers.push(`container ${c.Names[0]?.replace(/^\//, "")}`);
      }),
    );
    for (const n of await docker.listNetworks({ filters })) {
      await docker.getNetwork(n.Id).remove();
      result.leftovers.push(`network ${n.Name}`);
    }
    for (const v of (await docker.listVolumes({ filters })).Volumes ?? []) {
      await docker.getVolume(v.Name).remove();
      result.leftovers.push(`volume ${v.Name}`);
    }
    removeState(stack);
    progress(`removed ${result.leftovers.length} Docker object(s) of stack ${stack}, volumes included, and its state`);
    return result;
  }
  const state = loadState(stack);
  const deployment = new Deployment(stack, state, host, progress, true);
  await deployment.deleteUndeclared(); // nothing is declared: everything goes
  result.deleted = deployment.changes;
  delete state.outputs;
  saveState(stack, state);
  progress(`deleted ${result.deleted.length} resource(s); retained volumes kept (use --volumes to remove them)`);
  return result;
}

/** Whether a saved output value holds a secret anywhere inside. */
function holdsSecret(value: ResolvedOutput): boolean {
  if (Array.isArray(value)) return value.some(holdsSecret);
  if (value !== null && typeof value === "object") {
    return "secret" in value && Object.keys(value).length === 1 ? true : Object.values(value).some(holdsSecret);
  }
  return false;
}

/**
 * A StackReference, answered as Pulumi's backend answers it: the other stack's last outputs (as
 * `up` saved them in .local-state/<stack>.json), and the names of those that hold secrets. A
 * stack with no saved state has no outputs. `org/project/stack` names the stack by its last part.
 */
export function stackReference(name: string, self: string): pulumi.runtime.MockResourceResult {
  const stack = name.split("/").pop() ?? name;
  if (stack === self) throw new Error(`stack reference ${name}: a stack cannot reference itself`);
  const saved = (loadState(stack).outputs ?? {}) as Record<string, ResolvedOutput>;
  const outputs = Object.fromEntries(Object.entries(saved).map(([k, v]) => [k, printableOutputs(v, true)]));
  const secretOutputNames = Object.keys(saved).filter((k) => holdsSecret(saved[k]));
  return { id: name, state: { name, outputs, secretOutputNames } };
}

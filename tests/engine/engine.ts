// The test engine: runs the real program through Pulumi's mock monitor and applies every
// registration to the local Docker engine. It stands in for the Pulumi CLI and its provider
// plugins, which cannot be downloaded on the build machine; it is not a Pulumi backend.
import * as crypto from "crypto";
import * as path from "path";
import Docker from "dockerode";
import * as pulumi from "@pulumi/pulumi";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const requireFromString: (code: string, filename?: string) => { handler(): pulumi.dynamic.ResourceProvider } = require("require-from-string");
import { DockerResources, Progress, stopGracefully } from "./docker-resources";
import { PROJECT_ROOT, printableOutputs, ResolvedOutput, runProgram } from "./program";
import { readStackConfig } from "./stack-config";
import { hashInputs, loadState, removeState, saveState, SavedState } from "./state";
import { STACK_LABEL, PROJECT_LABEL } from "../../config/spec";

type Inputs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface UpOptions {
  overrides?: string[];
  progress?: Progress;
}

export interface UpResult {
  outputs: Record<string, ResolvedOutput>;
  seconds: number;
}

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

/** Brings `stack` up on the local Docker engine; resolves to its outputs, or rejects with what failed. */
export async function up(stack: string, options: UpOptions = {}): Promise<UpResult> {
  const progress = options.progress ?? ((line: string) => process.stderr.write(`[local:${stack}] ${line}\n`));
  const config = readStackConfig(stack, options.overrides ?? []);
  const docker = new Docker();
  await docker.ping().catch((e: Error) => {
    throw new Error(`no Docker engine answers (${e.message}); start dockerd (scripts/start-docker.sh) first`);
  });
  const resources = new DockerResources(docker, progress);
  const state: SavedState = loadState(stack);
  const started = Date.now();

  const remembered = async (key: string, inputs: Inputs, make: () => Promise<{ id: string; outputs: Inputs }>) => {
    const inputsHash = hashInputs(inputs);
    const saved = state.resources[key];
    if (saved && saved.inputsHash === inputsHash) return { id: saved.id, state: saved.outputs };
    const made = await make();
    state.resources[key] = { id: made.id, inputsHash, outputs: made.outputs };
    saveState(stack, state);
    return { id: made.id, state: made.outputs };
  };

  const dynamic = async (key: string, inputs: Inputs) => {
    const { __provider: code, ...props } = inputs;
    const provider = requireFromString(code, path.join(PROJECT_ROOT, "dynamic-provider.js")).handler();
    const news = provider.check ? ((await provider.check({}, props)).inputs ?? props) : props;
    const saved = state.resources[key];
    let id: string;
    let outs: Inputs;
    if (saved) {
      const diff = provider.diff ? await provider.diff(saved.id, saved.outputs, news) : { changes: true };
      if (!diff.changes) return { id: saved.id, state: saved.outputs };
      if ((diff.replaces?.length ?? 0) > 0 || !provider.update) {
        if (provider.delete) await provider.delete(saved.id, saved.outputs);
        ({ id, outs = {} } = await provider.create(news));
      } else {
        id = saved.id;
        outs = (await provider.update(saved.id, saved.outputs, news)).outs ?? {};
      }
    } else {
      ({ id, outs = {} } = await provider.create(news));
    }
    state.resources[key] = { id, inputsHash: hashInputs(news), outputs: outs };
    saveState(stack, state);
    return { id, state: outs };
  };

  const mocks: pulumi.runtime.Mocks = {
    async newResource(args) {
      if (!args.custom) return { id: undefined, state: args.inputs };
      args = { ...args, inputs: unwrapSecrets(args.inputs) };
      const key = `${args.type}::${args.name}`;
      const t0 = Date.now();
      const result = await (async () => {
        switch (args.type) {
          case "docker:index/network:Network":
            return resources.network(args.inputs);
          case "docker:index/volume:Volume":
            return resources.volume(args.inputs);
          case "docker:index/image:Image":
            return resources.image(args.inputs);
          case "docker:index/remoteImage:RemoteImage":
            return resources.remoteImage(args.inputs);
          case "docker:index/container:Container":
            return resources.container(args.inputs);
          case "random:index/randomBytes:RandomBytes":
            return remembered(key, args.inputs, async () => {
              const bytes = crypto.randomBytes(args.inputs.length);
              return { id: "bytes", outputs: { ...args.inputs, base64: bytes.toString("base64"), hex: bytes.toString("hex") } };
            });
          case "random:index/randomPassword:RandomPassword":
            return remembered(key, args.inputs, async () => ({
              id: "none",
              outputs: { ...args.inputs, result: randomString(args.inputs.length, args.inputs) },
            }));
          default:
            if (args.type.startsWith("pulumi-nodejs:dynamic")) return dynamic(key, args.inputs);
            throw new Error(`test engine: resource type ${args.type} is not implemented`);
        }
      })();
      const seconds = (Date.now() - t0) / 1000;
      if (seconds >= 1) progress(`${args.name}: ready in ${seconds.toFixed(1)}s`);
      return result;
    },
    call(args) {
      throw new Error(`test engine: function ${args.token} is not implemented`);
    },
  };

  progress(`running the program for stack ${stack}`);
  const { outputs, errors } = await runProgram(stack, config, mocks);
  if (errors.length > 0) {
    throw new Error(`stack ${stack} failed:\n${errors.map((e) => e.message).join("\n---\n")}`);
  }
  state.outputs = outputs;
  saveState(stack, state);
  return { outputs, seconds: (Date.now() - started) / 1000 };
}

/** The outputs of the last successful `up`, as `pulumi stack output --json` would print them. */
export function lastOutputs(stack: string, showSecrets: boolean): unknown {
  const state = loadState(stack);
  if (state.outputs === undefined) throw new Error(`stack ${stack} has no outputs yet; run local:up first`);
  return printableOutputs(state.outputs as ResolvedOutput, showSecrets);
}

export interface DownResult {
  containers: string[];
  networks: string[];
  volumes: string[];
}

/** Removes every container and network of the stack; volumes (and saved secrets) only if asked. */
export async function down(stack: string, options: { volumes?: boolean; progress?: Progress } = {}): Promise<DownResult> {
  const progress = options.progress ?? ((line: string) => process.stderr.write(`[local:${stack}] ${line}\n`));
  const docker = new Docker();
  const filters = { label: [`${PROJECT_LABEL}=slurm-cluster`, `${STACK_LABEL}=${stack}`] };
  const result: DownResult = { containers: [], networks: [], volumes: [] };
  const containers = await docker.listContainers({ all: true, filters });
  await Promise.all(
    containers.map(async (c) => {
      await stopGracefully(docker.getContainer(c.Id));
      await docker.getContainer(c.Id).remove({ force: true, v: false });
      result.containers.push(c.Names[0]?.replace(/^\//, "") ?? c.Id);
    }),
  );
  for (const n of await docker.listNetworks({ filters })) {
    await docker.getNetwork(n.Id).remove();
    result.networks.push(n.Name);
  }
  if (options.volumes) {
    for (const v of (await docker.listVolumes({ filters })).Volumes ?? []) {
      await docker.getVolume(v.Name).remove();
      result.volumes.push(v.Name);
    }
    // Volumes gone: the saved password and key belong to them, so they go too.
    removeState(stack);
  } else {
    const state = loadState(stack);
    // The next `up` recreates every container: forget dynamic checks so they run again.
    for (const key of Object.keys(state.resources)) {
      if (key.startsWith("pulumi-nodejs:dynamic")) delete state.resources[key];
    }
    delete state.outputs;
    if (Object.keys(state.resources).length > 0) saveState(stack, state);
  }
  progress(
    `removed ${result.containers.length} container(s), ${result.networks.length} network(s)` +
      (options.volumes ? `, ${result.volumes.length} volume(s)` : "; volumes kept (use --volumes to remove them)"),
  );
  return result;
}

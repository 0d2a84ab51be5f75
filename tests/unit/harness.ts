// Runs the real program against recording mocks: no Docker, no Slurm. Each registration is kept
// with the exact provider inputs and when it started and finished, so tests can check wiring
// and ordering as a user of `pulumi preview` would see it.
import { ProgramMocks, RegistrationDetails, ResolvedOutput, runProgram } from "../../local-runner/program";
import { readStackConfig } from "../../local-runner/stack-config";
import { markSecret } from "../../local-runner/engine";
import { TLS_PRIVATE_KEY, checkPrivateKeyInputs, createPrivateKey } from "../../local-runner/tls-private-key";
import { DEFAULT_FACTS, EngineFacts, startFakeEngine } from "./fake-engine";
import { fakeSlurmctld, ubuntuJoin } from "./controller-fixture";

export interface Registration {
  type: string;
  name: string;
  inputs: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Options and dependencies the program gave the engine (retainOnDelete, replaceOnChanges, ...). */
  details: RegistrationDetails;
  /** The explicit provider reference, if any. */
  provider?: string;
  started: number;
  finished: number;
}

export interface MockRun {
  registrations: Registration[];
  outputs: Record<string, ResolvedOutput>;
  error?: Error;
}

let clock = 0;

/** How long the mocks take to "create" a resource of each kind, so ordering is observable. */
const SLOW_TYPES: Record<string, number> = { "docker:index/container:Container": 15 };

/** Runs the program as `pulumi up` (or, with preview, as `pulumi preview`: outputs of new resources unknown). */
/**
 * A workers stack's controller stack is answered with `controllerOutputs` (default: the ubuntu
 * stack's join output, its slurmctld a loopback listener), as the backend answers a StackReference.
 */
export async function runWithMocks(
  stack: string,
  overrides: string[] = [],
  preview = false,
  engine: EngineFacts = DEFAULT_FACTS,
  controllerOutputs?: Record<string, unknown>,
): Promise<MockRun> {
  const registrations: Registration[] = [];
  const slurmctld = await fakeSlurmctld();
  const outputs = controllerOutputs ?? { join: await ubuntuJoin("127.0.0.1", slurmctld.port) };
  const mocks: ProgramMocks = {
    async newResource(args) {
      const reg: Registration = {
        type: args.type, name: args.name, inputs: args.inputs, details: args.details, provider: args.provider, started: ++clock, finished: 0,
      };
      registrations.push(reg);
      await new Promise((r) => setTimeout(r, SLOW_TYPES[args.type] ?? 0));
      reg.finished = ++clock;
      const inputs = args.inputs;
      switch (args.type) {
        case "docker:index/container:Container":
          return { id: `${inputs.name}-id`, state: { ...inputs, networkDatas: [{ networkName: "net", ipAddress: "10.9.0.2" }] } };
        case "random:index/randomBytes:RandomBytes":
          return { id: "bytes", state: { ...inputs, base64: Buffer.alloc(inputs.length, 7).toString("base64") } };
        case "random:index/randomPassword:RandomPassword":
          return { id: "password", state: { ...inputs, result: "MockPassword123" } };
        case TLS_PRIVATE_KEY: {
          // A real key, so a program that uploads it or prints its fingerprint sees real values; its
          // private encodings come back secret, as the engine marks pulumi-tls's additionalSecretOutputs
          // (Pulumi's mock monitor does not).
          const { id, outputs: key } = createPrivateKey(checkPrivateKeyInputs(args.name, inputs));
          return { id, state: markSecret(key, args.details.additionalSecretOutputs ?? []) };
        }
        case "pulumi:pulumi:StackReference":
          return { id: inputs.name, state: { name: inputs.name, outputs, secretOutputNames: Object.keys(outputs).filter((k) => k === "join") } };
        default:
          if (args.type.startsWith("pulumi-nodejs:dynamic")) {
            return { id: `${inputs.nodeName}`, state: { ...inputs, state: "IDLE", cpus: 2, memoryMb: 1024, slurmVersion: "24.11.5", reason: "" } };
          }
          return { id: args.custom ? `${args.name}-id` : undefined, state: inputs };
      }
    },
    call: () => ({}),
  };
  // Unit runs ask a stand-in engine (unless a test names one): cgroup v1 and 24 GiB by default.
  const fake = await startFakeEngine(engine);
  const hostGiven = overrides.some((o) => o.startsWith("docker:host="));
  // Workers stacks need this host's address; a documentation address unless the test gives one.
  const address = readStackConfig(stack)["slurm-cluster:role"] === "workers" ? ["advertiseAddress=192.0.2.20"] : [];
  // The stand-in engines answer plain HTTP on loopback: the stack consents to that (a test may say otherwise).
  const insecure = "allowInsecureDockerHost=true";
  const config = readStackConfig(stack, hostGiven ? [insecure, ...address, ...overrides] : [`docker:host=${fake.host}`, insecure, ...address, ...overrides]);
  try {
    const result = await runProgram(stack, config, preview ? previewMocks(mocks) : mocks, preview);
    return { registrations, outputs: result.outputs, error: result.errors[0] };
  } catch (error) {
    return { registrations, outputs: {}, error: error as Error };
  } finally {
    await fake.close();
    await slurmctld.close();
  }
}

export function ofType(run: MockRun, type: string): Registration[] {
  return run.registrations.filter((r) => r.type === type);
}

export const CONTAINER = "docker:index/container:Container";
export const VOLUME = "docker:index/volume:Volume";
export const NETWORK = "docker:index/network:Network";
export const IMAGE = "docker:index/image:Image";
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** True when a value arrived at the provider wrapped as a Pulumi secret. */
export function isWireSecret(value: unknown): boolean {
  return value !== null && typeof value === "object" && SECRET_SIG in (value as object);
}

/** As `pulumi preview` sees a new stack: the provider returns only the inputs; computed outputs are unknown. */
function previewMocks(mocks: ProgramMocks): ProgramMocks {
  return {
    async newResource(args) {
      await mocks.newResource(args);
      return { id: undefined, state: args.inputs };
    },
    call: mocks.call,
  };
}

// npm run policy -- <stack> [-c key=value ...]
// Runs the policy pack (policy/policies.ts, the same functions `pulumi preview --policy-pack policy`
// runs) against the resources the program declares for a stack, without the Pulumi CLI: the
// program runs through the mock monitor as for `up`, with made-up values for what providers
// compute (ids, addresses, random values), and each registration's inputs, as the provider would
// get them, go to every policy's validateResource, then all of them to validateStack. Violations
// print as `pulumi preview` prints them; any mandatory one fails the command.
import * as crypto from "crypto";
import { PolicyResource, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { PACK_NAME, PackConfig, policies } from "../policy/policies";
import { unwrapSecrets } from "./engine";
import * as net from "net";
import { PROJECT_NAME, ProgramMocks, RegistrationArgs, ResolvedOutput, printableOutputs, runProgram } from "./program";
import { parseStackArgs, readStackConfig } from "./stack-config";
import { TLS_PRIVATE_KEY, checkPrivateKeyInputs, createPrivateKey } from "./tls-private-key";

export interface Violation {
  policy: string;
  level: string;
  urn: string;
  message: string;
}

interface Captured {
  type: string;
  name: string;
  urn: string;
  props: Record<string, unknown>;
  args: RegistrationArgs;
}

/** What a provider would compute, made up so that everything the program derives from it is known. */
export function madeUpOutputs(args: RegistrationArgs): Record<string, unknown> {
  const inputs = args.inputs;
  switch (args.type) {
    case "docker:index/container:Container":
      return { ...inputs, networkDatas: [{ networkName: "policy-check", ipAddress: "192.0.2.10" }] };
    case "random:index/randomBytes:RandomBytes":
      return { ...inputs, base64: crypto.randomBytes(inputs.length).toString("base64") };
    case "random:index/randomPassword:RandomPassword":
      return { ...inputs, result: crypto.randomBytes(24).toString("base64url").slice(0, inputs.length) };
    case TLS_PRIVATE_KEY:
      // A real key (cheap for ED25519), checked as the provider checks it, so a bad algorithm fails here too.
      return createPrivateKey(checkPrivateKeyInputs(args.name, unwrapSecrets(inputs))).outputs;
    default:
      if (args.type.startsWith("pulumi-nodejs:dynamic")) return { ...inputs, state: "IDLE", cpus: 0, memoryMb: 0, slurmVersion: "", reason: "" };
      return inputs;
  }
}

/** A resource's URN as the engine forms it: its parents' types, then its own, then its name. */
function urnOf(stack: string, type: string, name: string, parentUrn: string): string {
  const parentType = parentUrn ? parentUrn.split("::")[2] : "";
  const chain = !parentType || parentType === "pulumi:pulumi:Stack" ? type : `${parentType}$${type}`;
  return `urn:pulumi:${stack}::${PROJECT_NAME}::${chain}::${name}`;
}

async function capture(
  stack: string,
  config: Record<string, string>,
  otherStack?: Record<string, unknown>,
): Promise<{ captured: Captured[]; outputs: Record<string, ResolvedOutput> }> {
  const captured: Captured[] = [];
  const urns = new Map<string, string>();
  const mocks: ProgramMocks = {
    async newResource(args) {
      const urn = urnOf(stack, args.type, args.name, args.details.parent);
      urns.set(`${args.type}::${args.name}`, urn);
      if (args.type === "pulumi:pulumi:StackReference") {
        return { id: args.inputs.name, state: { name: args.inputs.name, outputs: otherStack ?? {}, secretOutputNames: Object.keys(otherStack ?? {}) } };
      }
      if (args.custom) {
        const { __provider: _code, ...props } = unwrapSecrets(args.inputs);
        captured.push({ type: args.type, name: args.name, urn, props, args });
      }
      return { id: args.custom ? `${args.name}-id` : undefined, state: args.custom ? madeUpOutputs(args) : args.inputs };
    },
    call: () => ({}),
  };
  // As `pulumi preview --policy-pack` runs a pack: a preview, which builds nothing.
  const { errors, outputs } = await runProgram(stack, config, mocks, true);
  if (errors.length > 0) throw new Error(`the program failed for stack ${stack}:\n${errors.map((e) => e.message).join("\n")}`);
  return { captured, outputs };
}

/**
 * A workers stack is checked against its controller stack's program, run here under the same
 * mocks for its outputs (as a preview would read them from the backend), with slurmctld stood in
 * for by a listener on loopback. Addresses left unset are checked as 127.0.0.1.
 */
async function captureWorkers(stack: string, config: Record<string, string>, overrides: string[]): Promise<Captured[]> {
  const other = config["slurm-cluster:controllerStack"];
  const otherStack = other.split("/").pop()!;
  const ADDRESS = "slurm-cluster:advertiseAddress";
  const loopback = (c: Record<string, string>) => (c[ADDRESS] ? c : { ...c, [ADDRESS]: "127.0.0.1" });
  // The engine given for this stack, and the consent to reach it over plain TCP if given with it.
  const engine = overrides.filter((o) => /^(docker:host|(slurm-cluster:)?allowInsecureDockerHost)=/.test(o));
  const { outputs } = await capture(otherStack, loopback(readStackConfig(otherStack, engine)));
  const server = net.createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const join = printableOutputs(outputs.join, true) as Record<string, unknown>;
    const standIn = { ...join, controllerAddress: "127.0.0.1", slurmctldPort: (server.address() as net.AddressInfo).port };
    process.stderr.write(`[policy] ${stack} is a workers stack: checked against stack ${other}'s program outputs, its slurmctld stood in for on loopback\n`);
    return (await capture(stack, loopback(config), { join: standIn })).captured;
  } finally {
    server.close();
  }
}

class NotApplicable extends Error {}

function policyResource(c: Captured): PolicyResource {
  return {
    type: c.type,
    name: c.name,
    urn: c.urn,
    props: c.props,
    opts: {
      protect: false,
      ignoreChanges: c.args.details.ignoreChanges,
      deleteBeforeReplace: c.args.details.deleteBeforeReplace,
      aliases: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
      additionalSecretOutputs: [],
      parent: c.args.details.parent || undefined,
    },
    dependencies: [],
    propertyDependencies: {},
    isType: () => false,
    asType: () => undefined,
  } as unknown as PolicyResource;
}

/** Evaluates every policy of the pack for `stack`; the pack's config comes from the stack's settings. */
export async function checkPolicies(stack: string, overrides: string[] = []): Promise<{ violations: Violation[]; resources: number }> {
  const config = readStackConfig(stack, overrides);
  const packConfig: PackConfig = {
    allowPrivileged: config["slurm-cluster:allowPrivileged"] === "true",
    allowPublicPorts: false,
    allowHostCgroupWrite: config["slurm-cluster:allowHostCgroupWrite"] === "true",
  };
  const resources = config["slurm-cluster:role"] === "workers" ? await captureWorkers(stack, config, overrides) : (await capture(stack, config)).captured;
  const violations: Violation[] = [];
  const common = {
    getConfig: <T>() => packConfig as unknown as T,
    notApplicable: (reason?: string): never => {
      throw new NotApplicable(reason);
    },
    stackTags: new Map<string, string>(),
  };
  for (const policy of policies) {
    const level = policy.enforcementLevel ?? "advisory";
    if (level === "disabled") continue;
    const report = (urn: string): ReportViolation => (message, violationUrn) => violations.push({ policy: policy.name, level, urn: violationUrn ?? urn, message });
    const run = async (f: () => Promise<void> | void) => {
      try {
        await f();
      } catch (err) {
        if (!(err instanceof NotApplicable)) throw err;
      }
    };
    const perResource = (policy as ResourceValidationPolicy).validateResource;
    if (perResource) {
      const checks = Array.isArray(perResource) ? perResource : [perResource];
      for (const r of resources) {
        const args = { ...policyResource(r), ...common } as unknown as ResourceValidationArgs;
        for (const check of checks) await run(() => check(args, report(r.urn)));
      }
    }
    const wholeStack = (policy as StackValidationPolicy).validateStack;
    if (wholeStack) {
      const stackUrn = `urn:pulumi:${stack}::${PROJECT_NAME}::pulumi:pulumi:Stack::${PROJECT_NAME}-${stack}`;
      await run(() => wholeStack({ resources: resources.map(policyResource), ...common }, report(stackUrn)));
    }
  }
  return { violations, resources: resources.length };
}

/** The violations as `pulumi preview` prints them under "Policies". */
function formatViolations(violations: Violation[], version: string): string {
  const mandatory = violations.some((v) => v.level === "mandatory");
  const head = `Policies:\n    ${mandatory ? "❌" : violations.length > 0 ? "⚠️ " : "✅"} ${PACK_NAME}@v${version} (local: policy)\n`;
  return (
    head +
    violations
      .map((v) => {
        const resource = v.urn.split("::").slice(-2);
        return `        - [${v.level}]  ${v.policy}  (${resource[0].split("$").pop()}: ${resource[1]})\n          ${v.message}\n`;
      })
      .join("")
  );
}

async function main(argv: string[]): Promise<number> {
  const [stack, ...rest] = argv;
  if (!stack || stack.startsWith("-")) throw new Error("usage: npm run policy -- <stack> [-c key=value ...]");
  const { overrides } = parseStackArgs(rest, false);
  const { violations, resources } = await checkPolicies(stack, overrides);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const version: string = require("../policy/package.json").version;
  process.stdout.write(formatViolations(violations, version));
  const mandatory = violations.filter((v) => v.level === "mandatory").length;
  process.stdout.write(
    `${resources} resources checked for stack ${stack}: ${mandatory} mandatory, ${violations.length - mandatory} advisory violation(s)\n`,
  );
  return mandatory > 0 ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(2);
    },
  );
}

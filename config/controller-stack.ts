import * as net from "net";
import * as pulumi from "@pulumi/pulumi";

// The join output's schema lives with the other stack outputs (stack-outputs.ts, no Pulumi SDK).
import { ControllerJoin, JOIN_SCHEMA } from "./stack-outputs";
export { JOIN_SCHEMA };
export type { ControllerJoin };

/** Where a workers stack learns of its controller: the other stack, and the network to it. */
export interface ControllerStackReader {
  /** The stack's `join` output; undefined when the stack has none (yet). */
  join(stack: string): Promise<unknown>;
  /** Undefined when a TCP connection to address:port opens; otherwise why not. */
  reach(address: string, port: number): Promise<string | undefined>;
}

/** Opens and closes one TCP connection, with a timeout. */
function tcpReach(address: string, port: number, timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port });
    const done = (why?: string) => {
      socket.destroy();
      resolve(why);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs / 1000}s`));
    socket.once("connect", () => done(undefined));
    socket.once("error", (err) => done(err.message));
  });
}

/** The real sources: a pulumi.StackReference (the runner answers it from the stack's saved outputs) and TCP. */
export const pulumiStackReader: ControllerStackReader = {
  async join(stack: string) {
    const details = await controllerStackReference(stack).getOutputDetails("join");
    return details.value ?? details.secretValue;
  },
  reach: (address, port) => tcpReach(address, port),
};

// One StackReference per controller stack and program run (a run has its own mock or engine monitor).
const references = new WeakMap<object, Map<string, pulumi.StackReference>>();

/** The StackReference to a workers stack's controller stack, declared once per run. */
function controllerStackReference(stack: string): pulumi.StackReference {
  const monitor = pulumi.runtime.getMonitor() ?? references;
  let byStack = references.get(monitor);
  if (!byStack) references.set(monitor, (byStack = new Map()));
  let ref = byStack.get(stack);
  if (!ref) byStack.set(stack, (ref = new pulumi.StackReference("controller-stack", { name: stack })));
  return ref;
}

/** The controller stack's munge key, base64, kept secret. */
export function controllerMungeKey(stack: string): pulumi.Output<string> {
  return pulumi.secret(controllerStackReference(stack).getOutput("join").apply((join: ControllerJoin) => join.mungeKeyBase64));
}

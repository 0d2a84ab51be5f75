// A controller stack for workers stacks in unit tests: the join output the ubuntu stack would
// publish, rendered by the program's own code, and a loopback listener standing in for slurmctld.
import * as net from "net";
import { AddressInfo } from "net";
import { ControllerJoin, ControllerStackReader } from "../../config";
import { renderUsersFile } from "../../config/accounting";
import { SLURMCTLD_PORT, renderSlurmConf } from "../../config/render";
import { readStackConfig } from "../../local-runner/stack-config";
import { testSpec } from "./spec";

export const FIXTURE_MUNGE_KEY = Buffer.alloc(128, 9).toString("base64");

/** The join output of the committed ubuntu stack, published on `address`. */
export async function ubuntuJoin(address = "192.0.2.1", port = SLURMCTLD_PORT): Promise<ControllerJoin> {
  const spec = await testSpec(readStackConfig("ubuntu", [`advertiseAddress=${address}`]), "ubuntu");
  return {
    clusterName: spec.clusterName,
    slurmVersion: "24.11.5",
    baseImage: spec.baseImage,
    cgroupMode: spec.cgroupMode,
    controllerAddress: address,
    slurmctldPort: port,
    partitions: spec.partitions,
    nodeNames: spec.workers.map((w) => w.nodeName),
    slurmConf: renderSlurmConf(spec),
    usersFile: renderUsersFile(spec.accounting.users),
    mungeKeyBase64: FIXTURE_MUNGE_KEY,
  };
}

/** A reader that answers `join` for any stack name, and reaches only what `reachable` says. */
export function readerOf(join: unknown, reachable: (address: string, port: number) => string | undefined = () => undefined): ControllerStackReader & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async join(stack) {
      asked.push(stack);
      return join;
    },
    async reach(address, port) {
      return reachable(address, port);
    },
  };
}

/** A TCP listener on loopback standing in for slurmctld's published port (it accepts and closes). */
export async function fakeSlurmctld(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { port, close: () => new Promise((r) => server.close(() => r())) };
}


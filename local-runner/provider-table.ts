// What the real providers do when an input changes, per resource type and input: the local runner
// plans every `up` and `preview` from this table and nothing else. Read from the providers' source:
// - docker:index/container:Container, Network, Volume, RemoteImage are bridged from the Terraform
//   docker provider (kreuzwerker/terraform-provider-docker): an input marked ForceNew in its schema
//   replaces; resourceDockerContainerUpdate applies only restart, max_retry_count, cpu_shares,
//   memory, memory_reservation, cpu_set, memory_swap and the device_* limits; every other input
//   without ForceNew (healthcheck, tmpfs, wait, destroy_grace_seconds, ...) is written to state and
//   changes nothing in Docker. pulumi-docker sets DeleteBeforeReplace on Container; Network
//   and Volume are deleted first when the program names them (the bridge's autonaming rule, see autonamed).
// - docker:index/image:Image is pulumi-docker's own provider: any input change is an update
//   (rebuild), Read returns the state as it is (refresh never notices a deleted image) and Delete
//   does nothing (the image stays on the engine).
// - random:index/* (pulumi-random): every input forces a new value.
// - tls:index/privateKey:PrivateKey (pulumi-tls, terraform-provider-tls resource_private_key.go):
//   algorithm, rsa_bits and ecdsa_curve all RequiresReplace; Read, Update and Delete are no-ops, the
//   key lives only in state, so it stays the same from one up to the next while its inputs do.

/** What a changed input does to a live resource. */
export type InputEffect = "update" | "replace" | "ignored";

interface ResourceBehaviour {
  /** Effect of an input that `inputs` does not name. */
  otherInputs: InputEffect;
  /** Inputs whose effect differs from otherInputs. */
  inputs: Record<string, InputEffect>;
  /** The provider deletes the old resource before creating its replacement. */
  deleteBeforeReplace: boolean;
  /**
   * pulumi-docker autonames `name` (SetAutonaming in provider/resources.go): the bridge deletes before
   * replacing when the program set the name itself (nameRequiresDeleteBeforeReplace).
   */
  autonamed?: boolean;
  /** What `refresh` learns from the engine. */
  refresh: "container" | "exists" | "none";
}

const CONTAINER_UPDATES = [
  "restart", "maxRetryCount", "cpuShares", "memory", "memoryReservation", "cpuSet", "memorySwap",
  "deviceReadBps", "deviceReadIops", "deviceWriteBps", "deviceWriteIops",
];
/** Container inputs with neither ForceNew nor an update: a change is recorded, Docker is untouched. */
const CONTAINER_IGNORED = [
  "healthcheck", "tmpfs", "wait", "waitTimeout", "mustRun", "destroyGraceSeconds", "rm", "start", "attach", "logs",
  "removeVolumes", "init", "containerReadRefreshTimeoutMilliseconds",
];

export const RESOURCE_BEHAVIOUR: Record<string, ResourceBehaviour> = {
  "docker:index/container:Container": {
    otherInputs: "replace",
    inputs: {
      ...Object.fromEntries(CONTAINER_UPDATES.map((k) => [k, "update" as const])),
      ...Object.fromEntries(CONTAINER_IGNORED.map((k) => [k, "ignored" as const])),
    },
    deleteBeforeReplace: true,
    refresh: "container",
  },
  "docker:index/network:Network": { otherInputs: "replace", inputs: {}, deleteBeforeReplace: false, autonamed: true, refresh: "exists" },
  "docker:index/volume:Volume": { otherInputs: "replace", inputs: {}, deleteBeforeReplace: false, autonamed: true, refresh: "exists" },
  "docker:index/image:Image": { otherInputs: "update", inputs: {}, deleteBeforeReplace: false, refresh: "none" },
  "docker:index/remoteImage:RemoteImage": {
    otherInputs: "replace",
    inputs: { keepLocally: "ignored", forceRemove: "ignored" },
    deleteBeforeReplace: false,
    refresh: "exists",
  },
  "random:index/randomBytes:RandomBytes": { otherInputs: "replace", inputs: {}, deleteBeforeReplace: false, refresh: "none" },
  "random:index/randomPassword:RandomPassword": { otherInputs: "replace", inputs: {}, deleteBeforeReplace: false, refresh: "none" },
  "tls:index/privateKey:PrivateKey": { otherInputs: "replace", inputs: {}, deleteBeforeReplace: false, refresh: "none" },
  "pulumi:providers:docker": { otherInputs: "replace", inputs: {}, deleteBeforeReplace: false, refresh: "none" },
};

export function behaviourOf(type: string): ResourceBehaviour {
  const behaviour = RESOURCE_BEHAVIOUR[type];
  if (!behaviour) throw new Error(`local runner: resource type ${type} is not implemented (no row in local-runner/provider-table.ts)`);
  return behaviour;
}

export function inputEffect(type: string, input: string): InputEffect {
  const behaviour = behaviourOf(type);
  return behaviour.inputs[input] ?? behaviour.otherInputs;
}

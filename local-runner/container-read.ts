// What refresh reads back from a container, as the Terraform docker provider's
// resourceDockerContainerRead sets it into state (v4.5.0): name, image, hostname, command,
// entrypoint, restart, memory, memory_swap, healthcheck, mounts, capabilities (only when the
// container has any), security_opts, read_only, ulimit (only when set), stop_signal, privileged, tmpfs, host, and ports (only while
// running or with must_run). It does not read env, labels, uploads or cgroupns_mode: drift there
// stays unseen, as with the provider. The next `up` plans against what was read.
import Docker from "dockerode";
import { durationNs } from "./durations";

type Inputs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** One input as the provider reads it back, and when a stored value already says the same. */
interface ReadField {
  read(info: Docker.ContainerInspectInfo, stored: Inputs): unknown;
  /** The value an unset input stands for (the schema's default); unset on Computed inputs, which are not compared when unset. */
  unset?: unknown;
  /** Whether the provider reads it at all for this container (e.g. capabilities only when there are some). */
  readsWhen?(info: Docker.ContainerInspectInfo, stored: Inputs): boolean;
  same?(stored: any, read: any): boolean; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const MiB = 1024 * 1024;
const sorted = (values: unknown[] | undefined | null) => [...(values ?? [])].map((v) => JSON.stringify(v)).sort();
const sameSet = (a: unknown[] | undefined | null, b: unknown[] | undefined | null) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
const sameJson = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
const ns = (d: string | undefined) => durationNs(d) ?? 0;
/** Go's time.Duration.String() for whole milliseconds and up, as the provider writes durations. */
function goDuration(nanos: number | undefined): string {
  const n = nanos ?? 0;
  if (n === 0) return "0s";
  const h = Math.floor(n / 3600e9);
  const m = Math.floor((n % 3600e9) / 60e9);
  const s = (n % 60e9) / 1e9;
  if (h === 0 && m === 0 && s < 1) return `${n / 1e6}ms`;
  return `${h ? `${h}h` : ""}${h || m ? `${m}m` : ""}${s}s`;
}

type Mount = { type: string; source?: string; target: string; readOnly: boolean };
const mountKey = (m: Inputs) => ({ type: m.type, source: m.source ?? "", target: m.target, readOnly: m.readOnly ?? false });
type Port = { internal: number; external: number; ip: string; protocol: string };
const portKey = (p: Inputs) => ({ internal: Number(p.internal), external: Number(p.external ?? 0), ip: p.ip ?? "0.0.0.0", protocol: p.protocol ?? "tcp" });

const CONTAINER_READ: Record<string, ReadField> = {
  name: { read: (i) => i.Name.replace(/^\//, ""), unset: undefined },
  // As the provider since kreuzwerker/terraform-provider-docker#711 (v3.5+): an image given by ID ("sha256:...") is read
  // as the ID the container runs (a short ID reads as the full one, a diff that replaces it); one given by name is read as
  // the name the container was created with, so a name later pointing at another image is no diff, with the provider too.
  image: { read: (i, stored) => (String(stored.image ?? "").startsWith("sha256:") ? i.Image : i.Config.Image) },
  hostname: { read: (i) => i.Config.Hostname },
  command: { read: (i) => i.Config.Cmd ?? [], same: sameJson },
  entrypoints: { read: (i) => i.Config.Entrypoint ?? [], same: sameJson },
  restart: { read: (i) => i.HostConfig.RestartPolicy?.Name || "no", unset: "no" },
  memory: { read: (i) => (i.HostConfig.Memory ?? 0) / MiB, unset: 0 },
  memorySwap: { read: (i) => ((i.HostConfig.MemorySwap ?? 0) > 0 ? i.HostConfig.MemorySwap! / MiB : (i.HostConfig.MemorySwap ?? 0)) },
  privileged: { read: (i) => i.HostConfig.Privileged ?? false, unset: false },
  stopSignal: { read: (i) => (i.Config as { StopSignal?: string }).StopSignal },
  securityOpts: { read: (i) => i.HostConfig.SecurityOpt ?? [], same: sameSet },
  readOnly: { read: (i) => i.HostConfig.ReadonlyRootfs ?? false, unset: false },
  ulimits: {
    // Read back only when the program set some (the provider's `if _, ok := d.GetOk("ulimit")`).
    readsWhen: (_i, stored) => (stored.ulimits?.length ?? 0) > 0,
    read: (i) => (i.HostConfig.Ulimits ?? []).map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })),
    unset: [],
    same: (a, b) => sameSet(a, b),
  },
  tmpfs: { read: (i) => i.HostConfig.Tmpfs ?? {}, unset: {}, same: (a, b) => sameSet(Object.entries(a ?? {}), Object.entries(b ?? {})) },
  hosts: {
    read: (i) => ((i.HostConfig.ExtraHosts ?? []) as string[]).map((h) => ({ host: h.slice(0, h.indexOf(":")), ip: h.slice(h.indexOf(":") + 1) })),
    unset: [],
    same: (a, b) => sameSet(a, b),
  },
  capabilities: {
    readsWhen: (i) => (i.HostConfig.CapAdd?.length ?? 0) > 0 || (i.HostConfig.CapDrop?.length ?? 0) > 0,
    read: (i) => ({ adds: i.HostConfig.CapAdd ?? [], drops: i.HostConfig.CapDrop ?? [] }),
    unset: { adds: [], drops: [] },
    same: (a, b) => sameSet(a?.adds, b?.adds) && sameSet(a?.drops, b?.drops),
  },
  mounts: {
    read: (i) => (i.HostConfig.Mounts ?? []).map((m): Mount => ({ type: m.Type, source: m.Source, target: m.Target, readOnly: m.ReadOnly ?? false })),
    unset: [],
    same: (a, b) => sameSet((a ?? []).map(mountKey), (b ?? []).map(mountKey)),
  },
  healthcheck: {
    readsWhen: (i) => i.Config.Healthcheck !== undefined && i.Config.Healthcheck !== null,
    read: (i) => {
      const h = i.Config.Healthcheck as { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number };
      return { tests: h.Test ?? [], interval: goDuration(h.Interval), timeout: goDuration(h.Timeout), startPeriod: goDuration(h.StartPeriod), retries: h.Retries ?? 0 };
    },
    same: (a, b) =>
      sameJson(a?.tests, b?.tests) &&
      ns(a?.interval) === ns(b?.interval) &&
      ns(a?.timeout) === ns(b?.timeout) &&
      ns(a?.startPeriod) === ns(b?.startPeriod) &&
      (a?.retries ?? 0) === (b?.retries ?? 0),
  },
  ports: {
    // The provider reads ports while running or with must_run (a stopped container reports none).
    readsWhen: (i, stored) => i.State.Running || stored.mustRun !== false,
    read: (i) =>
      Object.entries(i.NetworkSettings.Ports ?? {}).flatMap(([key, bindings]) =>
        (bindings ?? []).map((b): Port => ({ internal: Number(key.split("/")[0]), external: Number(b.HostPort), ip: b.HostIp, protocol: key.split("/")[1] })),
      ),
    // An unset external port is Computed (Docker picks one): only the ports the program gave are compared.
    same: (a, b) => {
      const given = (a ?? []) as Inputs[];
      const picked = given.some((p) => p.external === undefined);
      const key = (p: Inputs) => ({ ...portKey(p), external: picked ? 0 : portKey(p).external });
      return sameSet(given.map(key), ((b ?? []) as Inputs[]).map(key));
    },
  },
};

/**
 * The container's inputs as refresh leaves them in state: each field the provider reads replaces
 * the stored input when it says something different; an unset Computed input stays unset.
 */
export function readContainerInputs(stored: Inputs, info: Docker.ContainerInspectInfo): Inputs {
  const result: Inputs = { ...stored };
  for (const [key, field] of Object.entries(CONTAINER_READ)) {
    if (field.readsWhen && !field.readsWhen(info, stored)) continue;
    const value = stored[key];
    if (value === undefined && !("unset" in field && field.unset !== undefined)) continue; // Computed: config unset, no diff
    const read = field.read(info, stored);
    const compared = value === undefined ? field.unset : value;
    const same = field.same ? field.same(compared, read) : sameJson(compared, read);
    if (!same) result[key] = read;
  }
  return result;
}

// The project's promises as CrossGuard policies. Mandatory where breaking one is a security or
// data-loss risk; advisory where it is a recommendation. Policy config (`--policy-pack-config`, or
// the stack's own settings in the offline runner): allowPrivileged, allowPublicPorts, allowHostCgroupWrite.
import { PolicyResource, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";

export const PACK_NAME = "slurm-cluster";

const CONTAINER = "docker:index/container:Container";
const IMAGE = "docker:index/image:Image";
const REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage";
const NETWORK = "docker:index/network:Network";
const ROLE_LABEL = "com.slurm-cluster.role";
/** The networks' role labels (config/spec.ts NETWORK_ROLES). */
const ACCOUNTING_NETWORK = "accounting-network";
const MONITORING_NETWORK = "monitoring-network";
/** Ports that must never be published: slurmctld, slurmd, slurmdbd, the database. */
const INTERNAL_PORTS = [6817, 6818, 6819, 3306];
/** sshd's port in the login container (published as the stack's loginPort). */
const SSH_PORT = 22;
/** srun's ports (slurm.conf SrunPortRange), which a controller publishes with slurmctld for other machines. */
const SRUN_PORTS = { first: 60001, last: 60032 };

/**
 * Why a container may not publish `port`, or undefined. Accounting (slurmdbd, database) is never
 * published. For other machines' workers, a controller may publish slurmctld (6817) and srun's
 * ports, and a worker its own slurmd port (Port= in its dynamic-node.conf, else 6818); the
 * address rule below keeps them off the wildcard address. Any other container keeps Slurm's and
 * the database's ports on the cluster network.
 */
function slurmPortProblem(props: Record<string, unknown>, port: number): string | undefined {
  const role = labelsOf(props)[ROLE_LABEL];
  if (role === "slurmdbd" || role === "database") return "but accounting (slurmdbd and its database) is never published";
  if (role === "controller") {
    return port === 6817 || (port >= SRUN_PORTS.first && port <= SRUN_PORTS.last) ? undefined : "but a controller publishes only slurmctld (6817) and srun's ports";
  }
  // Users come in by SSH on the login node only: it publishes sshd and nothing else, and no
  // other container publishes an SSH port.
  if (role === "login") return port === SSH_PORT ? undefined : `but a login node publishes only sshd (${SSH_PORT})`;
  if (port === SSH_PORT) return "but only the login node publishes SSH";
  if (role === "worker") {
    const conf = ((props.uploads ?? []) as { file: string; content?: string }[]).find((u) => u.file === "/etc/slurm/dynamic-node.conf")?.content ?? "";
    const own = Number(/(?:^|\s)Port=(\d+)/.exec(conf)?.[1] ?? 6818);
    return port === own ? undefined : `but a worker publishes only its own slurmd port (${own})`;
  }
  return INTERNAL_PORTS.includes(port) ? "which must stay on the cluster network" : undefined;
}
/**
 * What a worker mode may add: SYS_ADMIN (GPUs on v1, v2 before Docker 28), which host-cgroup-write
 * allows only with allowHostCgroupWrite; SYS_NICE (Slurm 26.05's slurmstepd binds a user's task to
 * its CPUs from root).
 */
const WORKER_CAPABILITIES = ["SYS_ADMIN", "SYS_NICE"];
/**
 * The capabilities each role may add back after dropping all (the program's
 * config/render/container-baseline.ts gives each its reason; the pack states the ceiling itself,
 * so a program change cannot widen it unseen).
 */
const SETUP = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID"];
const ROLE_CAPABILITIES: Record<string, string[]> = {
  controller: SETUP,
  slurmdbd: SETUP,
  database: SETUP,
  rest: SETUP,
  "slurm-exporter": SETUP,
  worker: SETUP,
  login: [...SETUP, "AUDIT_WRITE", "NET_BIND_SERVICE", "SYS_CHROOT"],
  prometheus: [],
  alertmanager: [],
  "node-exporter": [],
  grafana: [],
};

export interface PackConfig {
  /** The stack's allowPrivileged: cgroup and systemd workers may then be privileged. */
  allowPrivileged: boolean;
  /** Published ports may listen on every address (0.0.0.0). */
  allowPublicPorts: boolean;
  /** The stack's allowHostCgroupWrite: workers may then write the host's cgroups (or hold SYS_ADMIN). */
  allowHostCgroupWrite: boolean;
}

const configSchema = {
  properties: {
    allowPrivileged: { type: "boolean" as const, default: false },
    allowPublicPorts: { type: "boolean" as const, default: false },
    allowHostCgroupWrite: { type: "boolean" as const, default: false },
  },
};

/** The one host path a worker may bind besides the host's /sys/fs/cgroup: its own parent cgroup in a v1 controller. */
const OWN_V1_CGROUP = /^\/sys\/fs\/cgroup\/[a-z_,]+\/([^/]+)$/;

type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function labelsOf(props: Props): Record<string, string> {
  return Object.fromEntries(((props.labels ?? []) as { label: string; value: string }[]).map((l) => [l.label, l.value]));
}

const onContainers =
  (check: (props: Props, args: ResourceValidationArgs, report: ReportViolation) => void) => (args: ResourceValidationArgs, report: ReportViolation) => {
    if (args.type === CONTAINER) check(args.props, args, report);
  };

/** A value still unknown in a preview is not judged. */
const known = (v: unknown) => v !== undefined && !(typeof v === "object" && v !== null && "__pulumiUnknown" in v);

export const policies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  {
    name: "no-privileged-containers",
    description: "No container runs privileged, unless the stack sets allowPrivileged, and then only workers.",
    enforcementLevel: "mandatory",
    configSchema,
    validateResource: onContainers((props, args, report) => {
      if (!props.privileged) return;
      const { allowPrivileged } = args.getConfig<PackConfig>();
      const worker = labelsOf(props)[ROLE_LABEL] === "worker";
      if (!allowPrivileged || !worker) {
        report(`${props.name} is privileged; only workers may be, and only when the stack sets slurm-cluster:allowPrivileged=true`);
      }
    }),
  },
  {
    name: "privileged-by-choice",
    description: "A privileged worker the stack allowed: named grants are enough on every host tried, so privileged is worth a second look.",
    enforcementLevel: "advisory",
    configSchema,
    validateResource: onContainers((props, args, report) => {
      if (props.privileged && args.getConfig<PackConfig>().allowPrivileged) {
        report(`${props.name} runs privileged because the stack sets allowPrivileged; the worker mode's named grants are the least that works`);
      }
    }),
  },
  {
    name: "least-capabilities",
    description:
      "Every container drops all of Docker's default capabilities and adds back only what its daemon needs (ROLE_CAPABILITIES); " +
      `workers may add what a worker mode needs (${WORKER_CAPABILITIES.join(", ")}); a systemd worker keeps Docker's defaults but NET_RAW.`,
    enforcementLevel: "mandatory",
    validateResource: onContainers((props, _args, report) => {
      if (props.privileged) return; // judged by no-privileged-containers
      const role = labelsOf(props)[ROLE_LABEL];
      const adds: string[] = (props.capabilities?.adds ?? []).map((c: string) => c.replace(/^CAP_/, ""));
      const drops: string[] = (props.capabilities?.drops ?? []).map((c: string) => c.replace(/^CAP_/, ""));
      const systemdWorker = role === "worker" && props.stopSignal === "SIGRTMIN+3";
      if (systemdWorker ? !drops.includes("NET_RAW") && !drops.includes("ALL") : !drops.includes("ALL")) {
        report(`${props.name} keeps Docker's default capabilities; drop ALL (a systemd worker at least NET_RAW) and add back only what it needs`);
      }
      const allowed = [...(ROLE_CAPABILITIES[role] ?? []), ...(role === "worker" ? WORKER_CAPABILITIES : [])];
      const extra = adds.filter((c) => !allowed.includes(c));
      if (extra.length > 0) report(`${props.name} adds ${extra.join(", ")}, beyond what a ${role ?? "container without a role"} needs (${allowed.join(", ") || "none"})`);
    }),
  },
  {
    name: "no-new-privileges",
    description: "Every container runs with no-new-privileges (no setuid or file-capability gain), but a systemd worker (systemd's setuid helpers).",
    enforcementLevel: "mandatory",
    validateResource: onContainers((props, _args, report) => {
      if (labelsOf(props)[ROLE_LABEL] === "worker" && props.stopSignal === "SIGRTMIN+3") return;
      if (!((props.securityOpts ?? []) as string[]).some((o) => /^no-new-privileges(:true)?$/.test(o))) report(`${props.name} does not set no-new-privileges`);
    }),
  },
  {
    name: "user-process-limit",
    description: "Workers and the login node hold users' processes to a limit (ulimit nproc), so a fork bomb fails there instead of filling the host's pid table.",
    enforcementLevel: "mandatory",
    validateResource: onContainers((props, _args, report) => {
      const role = labelsOf(props)[ROLE_LABEL];
      if (role !== "worker" && role !== "login") return;
      if (!((props.ulimits ?? []) as { name: string }[]).some((u) => u.name === "nproc")) report(`${props.name} sets no nproc limit for its users' processes`);
    }),
  },
  {
    name: "no-host-access",
    description: "No host bind mount, host cgroup namespace or host device, except what a worker mode or GPU worker names (/sys/fs/cgroup, GPU devices).",
    enforcementLevel: "mandatory",
    validateResource: onContainers((props, _args, report) => {
      const worker = labelsOf(props)[ROLE_LABEL] === "worker";
      for (const m of (props.mounts ?? []) as { type: string; source?: string }[]) {
        if (m.type === "bind" && !(worker && m.source === "/sys/fs/cgroup")) report(`${props.name} bind-mounts the host's ${m.source}`);
      }
      for (const v of (props.volumes ?? []) as { hostPath?: string }[]) {
        if (!v.hostPath) continue;
        // A worker's own parent cgroup is named for its container (config/render/container-settings.ts).
        const own = OWN_V1_CGROUP.exec(v.hostPath)?.[1];
        if (!(worker && own !== undefined && own === props.name && props.cgroupParent === `/${own}`)) report(`${props.name} bind-mounts the host's ${v.hostPath}`);
      }
      if (props.cgroupnsMode === "host" && !worker) report(`${props.name} shares the host's cgroup namespace`);
      if (((props.devices ?? []) as unknown[]).length > 0 && !worker) report(`${props.name} gets host devices`);
      const unconfined = ((props.securityOpts ?? []) as string[]).filter((o) => /^apparmor[=:]unconfined$/.test(o));
      if (unconfined.length > 0 && !worker) report(`${props.name} runs without AppArmor (${unconfined.join(", ")})`);
    }),
  },
  {
    name: "host-cgroup-write",
    description:
      "No worker writes the host's cgroups (the host's /sys/fs/cgroup read-write, the host cgroup namespace, CAP_SYS_ADMIN or apparmor=unconfined) unless the stack sets allowHostCgroupWrite; a worker owns only its own cgroup subtree.",
    enforcementLevel: "mandatory",
    configSchema,
    validateResource: onContainers((props, args, report) => {
      if (labelsOf(props)[ROLE_LABEL] !== "worker" || args.getConfig<PackConfig>().allowHostCgroupWrite) return;
      const grants: string[] = [];
      const hostCgroupfs = ((props.mounts ?? []) as { type: string; source?: string; readOnly?: boolean }[]).some((m) => m.type === "bind" && /^\/sys\/fs\/cgroup\/?$/.test(m.source ?? "") && !m.readOnly);
      const hostCgroupfsVolume = ((props.volumes ?? []) as { hostPath?: string; readOnly?: boolean }[]).some((v) => /^\/sys\/fs\/cgroup\/?$/.test(v.hostPath ?? "") && !v.readOnly);
      if (hostCgroupfs || hostCgroupfsVolume) grants.push("the host's /sys/fs/cgroup read-write");
      if (props.cgroupnsMode === "host") grants.push("the host cgroup namespace");
      if (((props.capabilities?.adds ?? []) as string[]).some((c) => c.replace(/^CAP_/, "") === "SYS_ADMIN")) grants.push("CAP_SYS_ADMIN");
      if (((props.securityOpts ?? []) as string[]).some((o) => /^apparmor[=:]unconfined$/.test(o))) grants.push("apparmor=unconfined");
      if (grants.length > 0) {
        report(`${props.name} gets ${grants.join(", ")}: it could write the host's cgroups; set slurm-cluster:allowHostCgroupWrite=true only if you accept that`);
      }
    }),
  },
  {
    name: "no-seccomp-unconfined",
    description: "No container turns seccomp off.",
    enforcementLevel: "mandatory",
    validateResource: onContainers((props, _args, report) => {
      const off = ((props.securityOpts ?? []) as string[]).filter((o) => /^seccomp[=:]unconfined$/.test(o));
      if (off.length > 0) report(`${props.name} sets ${off.join(", ")}`);
    }),
  },
  {
    name: "no-public-ports",
    description: "Published ports listen on a named address (127.0.0.1 by default), never on all addresses unless allowPublicPorts; Slurm's and the database's ports are never published.",
    enforcementLevel: "mandatory",
    configSchema,
    validateResource: onContainers((props, args, report) => {
      const { allowPublicPorts } = args.getConfig<PackConfig>();
      for (const p of (props.ports ?? []) as { internal: number; external?: number; ip?: string }[]) {
        const why = slurmPortProblem(props, p.internal);
        if (why) report(`${props.name} publishes port ${p.internal}, ${why}`);
        const ip = p.ip ?? "0.0.0.0";
        if (!allowPublicPorts && (ip === "0.0.0.0" || ip === "::")) {
          report(`${props.name} publishes port ${p.internal} as host port ${p.external ?? "(any)"} on ${ip} (every address); publish it on 127.0.0.1 or set allowPublicPorts`);
        }
      }
    }),
  },
  {
    name: "secrets-out-of-sight",
    description: "The munge key, the login node's SSH host key and the database password reach containers only as files: never in environment variables, labels or command lines.",
    enforcementLevel: "mandatory",
    validateResource: onContainers((props, _args, report) => {
      const secrets: string[] = [];
      for (const u of (props.uploads ?? []) as { file: string; content?: string; contentBase64?: string }[]) {
        if (u.file === "/etc/munge/munge.key" && known(u.contentBase64)) secrets.push(u.contentBase64!);
        if (/^\/etc\/ssh\/ssh_host_.*_key$/.test(u.file) && known(u.content)) {
          // The login node's host key: its base64 body lines, any of which in the open gives it away.
          secrets.push(...u.content!.split("\n").filter((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l)));
        }
        if (/password$/.test(u.file) && known(u.content)) secrets.push(u.content!);
        const pass = known(u.content) ? /^StoragePass=(.+)$/m.exec(u.content ?? "")?.[1] : undefined;
        if (pass) secrets.push(pass);
      }
      const places: [string, string[]][] = [
        ["environment", (props.envs ?? []) as string[]],
        ["labels", Object.values(labelsOf(props))],
        ["command", [...((props.command ?? []) as string[]), ...((props.entrypoints ?? []) as string[])]],
      ];
      for (const [where, values] of places) {
        if (values.some((v) => typeof v === "string" && secrets.some((s) => s.length >= 8 && v.includes(s)))) {
          report(`${props.name} carries a secret (munge key, SSH host key or database password) in its ${where}`);
        }
        if (values.some((v) => typeof v === "string" && /(PASSWORD|PASSWD|SECRET|MUNGE_KEY)=[^=]+$/i.test(v) && !/__FILE=/.test(v))) {
          report(`${props.name} sets a password or key in its ${where}; upload it as a file instead`);
        }
      }
    }),
  },
  {
    name: "pinned-images",
    description: "Images are built from, or pulled as, a pinned tag or digest: never an untagged name or :latest.",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
      const floating = (ref: string) => !/@sha256:[0-9a-f]{64}$/.test(ref) && (!/:[^/]+$/.test(ref) || /:latest$/.test(ref));
      if (args.type === IMAGE) {
        for (const [arg, ref] of Object.entries((args.props.build?.args ?? {}) as Record<string, string>)) {
          if (/_IMAGE$/.test(arg) && known(ref) && floating(ref)) report(`${args.name} is built FROM ${ref} (${arg}); pin a tag or digest`);
        }
        if (known(args.props.imageName) && floating(args.props.imageName)) report(`${args.name} is tagged ${args.props.imageName}; use a content tag`);
      }
      if (args.type === REMOTE_IMAGE && known(args.props.name) && floating(args.props.name)) report(`${args.name} pulls ${args.props.name}; pin a tag or digest`);
    },
  },
  {
    name: "memory-limits",
    description: "Every container has a memory limit (workerMemoryMb plus headroom for workers, serviceMemoryMb for the others).",
    enforcementLevel: "mandatory",
    validateResource: onContainers((props, _args, report) => {
      if (!props.memory) report(`${props.name} has no memory limit`);
    }),
  },
  {
    name: "healthcheck-and-restart",
    description: "Every container has a healthcheck and a restart policy, so Docker reports and recovers it.",
    enforcementLevel: "advisory",
    validateResource: onContainers((props, _args, report) => {
      if (!props.healthcheck) report(`${props.name} has no healthcheck`);
      if (!props.restart || props.restart === "no") report(`${props.name} has no restart policy`);
    }),
  },
  {
    name: "networks-by-role",
    description:
      "The accounting database is on the accounting network and no other; only it and slurmdbd are on that network; workers (where users' jobs run) are on neither the accounting nor the monitoring network.",
    enforcementLevel: "mandatory",
    validateStack: (args, report) => {
      // A network is known by its name (what containers' networksAdvanced give) and its role label.
      const roleOfNetwork = new Map<string, string>();
      for (const n of args.resources.filter((r: PolicyResource) => r.type === NETWORK)) {
        if (known(n.props.name)) roleOfNetwork.set(n.props.name, labelsOf(n.props)[ROLE_LABEL] ?? "");
      }
      for (const c of args.resources.filter((r: PolicyResource) => r.type === CONTAINER)) {
        const role = labelsOf(c.props)[ROLE_LABEL];
        const names = ((c.props.networksAdvanced ?? []) as { name: unknown }[]).map((n) => n.name);
        if (!names.every(known)) continue; // a preview's unknown names are not judged
        // A network this stack does not declare has no role here.
        const roles = (names as string[]).map((n) => roleOfNetwork.get(n) ?? `undeclared network ${n}`);
        if (role === "database") {
          if (roles.length === 0 || roles.some((r) => r !== ACCOUNTING_NETWORK)) {
            report(`${c.props.name} (the accounting database) must be on the accounting network only, but is on ${roles.join(", ") || "none"}`);
          }
        } else if (role === "worker") {
          const forbidden = roles.filter((r) => r === ACCOUNTING_NETWORK || r === MONITORING_NETWORK);
          if (forbidden.length > 0) report(`${c.props.name} (a worker, where users' jobs run) is on the ${forbidden.join(" and ")}`);
        } else if (role !== "slurmdbd" && roles.includes(ACCOUNTING_NETWORK)) {
          report(`${c.props.name} (${role}) is on the accounting network, which only the database and slurmdbd may be on`);
        }
      }
    },
  },
  {
    name: "cluster-shape",
    description: "The stack has exactly one controller, one login node (a cluster stack), at least one worker, and its published ports are all different.",
    enforcementLevel: "mandatory",
    validateStack: (args, report) => {
      const containers = args.resources.filter((r: PolicyResource) => r.type === CONTAINER);
      const role = (r: PolicyResource) => labelsOf(r.props)[ROLE_LABEL];
      const controllers = containers.filter((r) => role(r) === "controller");
      // A workers stack (its controller is another stack's) has workers (and its machine's node
      // exporter) and nothing else of Slurm's.
      const onlyWorkers = containers.every((r) => ["worker", "node-exporter"].includes(role(r)));
      if (controllers.length > 1 || (controllers.length === 0 && !onlyWorkers)) {
        report(`the stack has ${controllers.length} controllers; it must have exactly one (or, as a workers stack, only workers)`);
      }
      if (!containers.some((r) => role(r) === "worker")) report("the stack has no worker");
      // A cluster's users reach it through one login node (SSH), not through Docker.
      const logins = containers.filter((r) => role(r) === "login");
      if (controllers.length > 0 && logins.length !== 1) report(`the stack has ${logins.length} login nodes; a cluster stack has exactly one (its users' way in)`);
      const published = containers.flatMap((r) => ((r.props.ports ?? []) as { external?: number }[]).map((p) => [p.external, r.props.name] as const));
      for (const [port, name] of published) {
        const others = published.filter(([p, n]) => p === port && n !== name);
        if (port !== undefined && others.length > 0) report(`host port ${port} is published by ${name} and ${others.map(([, n]) => n).join(", ")}`);
      }
    },
  },
];

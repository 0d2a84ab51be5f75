import { ClusterSpec } from "../spec";

// The least every container runs with: Docker's default capabilities all dropped and only what its
// daemon needs added back, no-new-privileges, a memory limit, and a process limit for users' jobs.
// pulumi-docker 5.2 (Terraform docker provider 4.5) has no pids_limit, so a container-wide pids
// cgroup limit cannot be declared; jobs are held by RLIMIT_NPROC instead (see userProcessLimit).

/** The roles a container has (its com.slurm-cluster.role label). */
type ContainerRole =
  | "controller" | "slurmdbd" | "database" | "rest" | "login" | "worker"
  | "prometheus" | "alertmanager" | "node-exporter" | "slurm-exporter" | "grafana";

/**
 * What a root entrypoint needs to set up before it hands over to an unprivileged daemon: make the
 * cluster's users and their homes (useradd writes /etc/passwd; install -o, chown), read and fix
 * files that belong to others (munge's key, the state directory), and switch user (runuser,
 * slurmctld and slurmdbd dropping to SlurmUser, mariadbd --user); and KILL, because tini (PID 1,
 * root) passes the stop signal on to that daemon, another user's process: without it tini fails
 * ("Unexpected error when forwarding signal: Operation not permitted", seen here) and the daemon
 * is killed at the end of the grace period instead of saving its state.
 */
const ENTRYPOINT = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID"];

/** The capabilities each role keeps (after dropping all), with the reason, as the README lists them. */
export const ROLE_CAPABILITIES: Record<ContainerRole, { adds: string[]; why: string }> = {
  controller: { adds: ENTRYPOINT, why: "users, munge and state directory set up as root; slurmctld drops to SlurmUser" },
  slurmdbd: { adds: ENTRYPOINT, why: "munge and config files set up as root; slurmdbd drops to SlurmUser" },
  database: { adds: ENTRYPOINT, why: "data directory set up as root; mariadbd switches to mysql" },
  rest: { adds: ENTRYPOINT, why: "munge set up as root; slurmrestd runs as its own user" },
  "slurm-exporter": { adds: ENTRYPOINT, why: "munge set up as root; the exporter runs as its own user" },
  worker: {
    adds: ENTRYPOINT,
    why: "slurmd runs as root and starts each job as its user (SETUID/SETGID), and signals and ends those users' processes (KILL)",
  },
  login: {
    adds: [...ENTRYPOINT, "AUDIT_WRITE", "NET_BIND_SERVICE", "SYS_CHROOT"],
    why:
      "sshd listens on port 22 (NET_BIND_SERVICE), chroots its pre-login process (SYS_CHROOT), starts sessions as the user and ends them (KILL), " +
      "and Debian's sshd records each terminal session in the kernel's audit log, ending the session if it cannot (AUDIT_WRITE)",
  },
  prometheus: { adds: [], why: "runs as the prometheus user from the start" },
  alertmanager: { adds: [], why: "runs as the prometheus user from the start" },
  "node-exporter": { adds: [], why: "runs as the prometheus user from the start" },
  grafana: { adds: [], why: "Grafana's image runs as its own user from the start" },
};

/** Memory limits (MiB) of the service containers when serviceMemoryMb is auto: what each needs, with room. */
export const SERVICE_MEMORY_MB: Record<Exclude<ContainerRole, "worker">, number> = {
  controller: 1024,
  slurmdbd: 512,
  database: 1024,
  rest: 256,
  login: 1024,
  prometheus: 1024,
  alertmanager: 256,
  "node-exporter": 128,
  "slurm-exporter": 256,
  grafana: 512,
};

/** The docker provider's inputs for a container's baseline. */
interface ContainerBaseline {
  capabilities: { drops: string[]; adds?: string[] };
  securityOpts: string[];
  memory?: number;
  memorySwap?: number;
  ulimits?: { name: string; soft: number; hard: number }[];
}

/**
 * A container's baseline. Workers bring their mode's own grants (`extra`), their memory (the
 * mode's headroom) and, in systemd mode, keep Docker's default capabilities: systemd as PID 1
 * mounts, makes device nodes and changes owners for its units, and runs setuid helpers, so neither
 * dropping all nor no-new-privileges leaves it working (the README's mode table says so).
 */
export function containerBaseline(
  spec: Pick<ClusterSpec, "serviceMemoryMb" | "userProcessLimit">,
  role: ContainerRole,
  extra: { capabilityAdds?: string[]; securityOpts?: string[]; memoryMb?: number; systemd?: boolean } = {},
): ContainerBaseline {
  const memory = extra.memoryMb ?? (role === "worker" ? undefined : serviceMemoryMb(spec, role));
  const adds = [...new Set([...ROLE_CAPABILITIES[role].adds, ...(extra.capabilityAdds ?? [])])].sort();
  // Users' processes (jobs on workers, sessions on the login node) are held to userProcessLimit:
  // a fork bomb fails there; root's daemons (slurmd, sshd) are not counted and the node stays up.
  const users = role === "worker" || role === "login";
  return {
    capabilities: extra.systemd ? { drops: ["NET_RAW"], adds: extra.capabilityAdds?.length ? extra.capabilityAdds : undefined } : { drops: ["ALL"], adds: adds.length > 0 ? adds : undefined },
    securityOpts: [...(extra.systemd ? [] : ["no-new-privileges:true"]), ...(extra.securityOpts ?? [])],
    ...(memory !== undefined ? { memory, memorySwap: memory } : {}),
    ...(users ? { ulimits: [{ name: "nproc", soft: spec.userProcessLimit, hard: spec.userProcessLimit }] } : {}),
  };
}

function serviceMemoryMb(spec: Pick<ClusterSpec, "serviceMemoryMb">, role: Exclude<ContainerRole, "worker">): number {
  return spec.serviceMemoryMb === "auto" ? SERVICE_MEMORY_MB[role] : spec.serviceMemoryMb;
}

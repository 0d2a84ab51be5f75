// `slurm-cluster token`: a JSON Web Token for the REST API (slurmrestd) naming one cluster user.
// slurmctld mints it (`scontrol token username=<user> lifespan=<seconds>`, AuthAltTypes=auth/jwt);
// only root or SlurmUser may ask for another user's token, so the command runs on the controller
// as root. scontrol prints `SLURM_JWT=<token>`; the CLI prints the token alone, for
// `export SLURM_JWT=$(slurm-cluster token --user alice)`.
import { Cluster, onController } from "./cluster";
import { CliError } from "./errors";

/** From a minute (a shorter token expires before it is used) to a year. */
const MIN_TOKEN_LIFESPAN = 60;
const MAX_TOKEN_LIFESPAN = 365 * 24 * 3600;

/** --lifespan, checked before the cluster is asked: whole seconds within the bounds above. */
export function tokenLifespan(value: string): number {
  const seconds = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(seconds >= MIN_TOKEN_LIFESPAN && seconds <= MAX_TOKEN_LIFESPAN)) {
    throw new CliError(`--lifespan ${value}: expected whole seconds from ${MIN_TOKEN_LIFESPAN} to ${MAX_TOKEN_LIFESPAN} (a year)`, 2);
  }
  return seconds;
}

/** The token slurmctld issues for `user` (a user of the cluster, checked by the caller). */
export async function restToken(cluster: Cluster, user: string, lifespan: number): Promise<string> {
  const res = await onController(cluster, ["scontrol", "token", `username=${user}`, `lifespan=${lifespan}`]);
  const token = /^SLURM_JWT=(\S+)\s*$/m.exec(res.out)?.[1];
  if (res.code !== 0 || !token) {
    const why = (res.err || res.out).split("\n").map((l) => l.trim().replace(/^scontrol: (error: )?/, "")).filter(Boolean).join("; ");
    throw new CliError(`scontrol token username=${user}: ${why || `exit ${res.code}, no SLURM_JWT= line`}`, 1);
  }
  return token;
}

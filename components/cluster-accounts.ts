import * as pulumi from "@pulumi/pulumi";
import { ClusterSpec } from "../config";
import { parentsFirst } from "../config/accounting";
import { TYPE_PREFIX } from "./container-parts";
import { SlurmAccount, SlurmQos, SlurmUser } from "./slurm-accounting";

export interface ClusterAccountsArgs {
  /** The part of the validated spec it reads (with monitoring on, the Slurm exporter's user too). */
  readonly spec: Pick<ClusterSpec, "accounting" | "dockerHost" | "monitoring">;
  /** The controller's container: sacctmgr runs there. */
  readonly controllerContainer: pulumi.Input<string>;
}

/** The Slurm exporter's Linux user (shared/images/slurm/Dockerfile) and Slurm operator. */
const EXPORTER_USER = "slurm-exporter";

const ADMIN_LEVEL = { none: "None", operator: "Operator", administrator: "Admin" } as const;

/**
 * The stack's accounts, users and QOS in slurmdbd, one resource each: QOS first, then accounts
 * parents first, then users (each after its account), so each is created after what it names
 * and deleted before it.
 */
export class ClusterAccounts extends pulumi.ComponentResource {
  public readonly accounts: string[];
  public readonly users: string[];
  public readonly qos: string[];

  constructor(name: string, args: ClusterAccountsArgs, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}:index:ClusterAccounts`, name, {}, opts);
    const { spec } = args;
    const common = { controllerContainer: args.controllerContainer, dockerHost: spec.dockerHost };
    const after = (deps: pulumi.Resource[]) => ({ parent: this, dependsOn: [...((opts?.dependsOn as pulumi.Resource[]) ?? []), ...deps] });

    const qos = spec.accounting.qos.map(
      (q) => new SlurmQos(`qos-${q.name}`, { ...common, name: q.name, settings: { priority: String(q.priority), ...(q.maxWall ? { maxwall: q.maxWall } : {}) } }, after([])),
    );
    const accounts = new Map<string, SlurmAccount>();
    for (const a of parentsFirst(spec.accounting.accounts)) {
      const settings: Record<string, string> = { parent: a.parent, fairshare: String(a.fairshare) };
      if (a.maxJobs !== undefined) settings.maxjobs = String(a.maxJobs);
      if (a.grpTres) settings.grptres = a.grpTres;
      if (a.qos.length > 0) settings.qos = a.qos.join(",");
      const parent = accounts.get(a.parent);
      accounts.set(a.name, new SlurmAccount(`account-${a.name}`, { ...common, name: a.name, settings }, after([...qos, ...(parent ? [parent] : [])])));
    }
    for (const u of spec.accounting.users) {
      const settings = { account: u.account, defaultaccount: u.account, adminlevel: ADMIN_LEVEL[u.admin] };
      new SlurmUser(`user-${u.name}`, { ...common, name: u.name, settings }, after([accounts.get(u.account)!]));
    }

    // The Slurm exporter's user (uid 61000 in the Slurm image) sees every job and node under
    // PrivateData as an operator; its association is under root and may submit nothing.
    if (spec.monitoring) {
      const settings = { account: "root", defaultaccount: "root", adminlevel: ADMIN_LEVEL.operator, maxsubmitjobs: "0" };
      new SlurmUser(`user-${EXPORTER_USER}`, { ...common, name: EXPORTER_USER, settings }, after([]));
    }

    this.accounts = spec.accounting.accounts.map((a) => a.name);
    this.users = spec.accounting.users.map((u) => u.name);
    this.qos = spec.accounting.qos.map((q) => q.name);
    this.registerOutputs({ accounts: this.accounts, users: this.users, qos: this.qos });
  }
}

import * as pulumi from "@pulumi/pulumi";
import { TYPE_PREFIX } from "./container-parts";
import { dockerExec, engine } from "./node-registration";

/** One object of Slurm's accounting database (slurmdbd), kept with sacctmgr on the controller. */
export interface AccountingObjectInputs {
  kind: "account" | "user" | "qos";
  name: string;
  /** sacctmgr settings (key=value); those marked at-add-only need a new object when they change. */
  settings: Record<string, string>;
  /** Where sacctmgr runs: the controller's container, on this engine. */
  controllerContainer: string;
  dockerHost: string;
}

/** Settings that sacctmgr takes only when the object is added (a change replaces the object). */
const ADD_ONLY: Record<AccountingObjectInputs["kind"], string[]> = { account: ["parent"], user: ["account"], qos: [] };

// Runs inside Pulumi's dynamic-provider host: Node built-ins, dockerode and dockerExec only.

async function sacctmgr(inputs: AccountingObjectInputs, args: string[]): Promise<string> {
  const res = await dockerExec(inputs.dockerHost, inputs.controllerContainer, ["sacctmgr", "-i", ...args]);
  // sacctmgr exits 0 on some refusals; its message is what tells.
  const text = `${res.out}${res.err}`.trim();
  if (res.code !== 0 || /^\s*(sacctmgr: )?error/im.test(text)) {
    throw new Error(`sacctmgr ${args.join(" ")}: ${text || `exit code ${res.code}`}`);
  }
  return text;
}

/** The column sacctmgr lists each kind's name in. */
const NAME_FIELD: Record<AccountingObjectInputs["kind"], string> = { account: "account", user: "user", qos: "name" };

async function exists(inputs: AccountingObjectInputs): Promise<boolean> {
  const res = await dockerExec(inputs.dockerHost, inputs.controllerContainer, ["sacctmgr", "-n", "-P", "show", inputs.kind, inputs.name, `format=${NAME_FIELD[inputs.kind]}`]);
  if (res.code !== 0) throw new Error(`sacctmgr show ${inputs.kind} ${inputs.name}: ${(res.err || res.out).trim()}`);
  return res.out.split("\n").some((l) => l.trim() === inputs.name);
}

const pairs = (settings: Record<string, string>) => Object.entries(settings).map(([k, v]) => `${k}=${v}`);

/** What `set` needs to clear a setting the config no longer gives: -1 (a TRES list: each TRES at -1). */
function cleared(key: string, old: string): string {
  return key === "grptres" ? old.split(",").map((t) => `${t.split("=")[0]}=-1`).join(",") : "-1";
}

async function modify(inputs: AccountingObjectInputs, olds?: AccountingObjectInputs): Promise<void> {
  const settings: Record<string, string> = {};
  for (const [k, v] of Object.entries(inputs.settings)) if (!ADD_ONLY[inputs.kind].includes(k)) settings[k] = v;
  for (const [k, v] of Object.entries(olds?.settings ?? {})) if (!(k in inputs.settings) && !ADD_ONLY[inputs.kind].includes(k)) settings[k] = cleared(k, v);
  if (Object.keys(settings).length === 0) return;
  await sacctmgr(inputs, ["modify", inputs.kind, "where", `name=${inputs.name}`, "set", ...pairs(settings)]);
}

export const accountingProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: AccountingObjectInputs) {
    // An object already there (slurmdbd keeps its database across a destroy) is taken over.
    if (await exists(inputs)) await modify(inputs);
    else await sacctmgr(inputs, ["add", inputs.kind, inputs.name, ...pairs(inputs.settings)]);
    return { id: `${inputs.kind}/${inputs.name}`, outs: inputs };
  },
  async diff(_id: string, olds: AccountingObjectInputs, news: AccountingObjectInputs) {
    const replaces = ["kind", "name", ...ADD_ONLY[news.kind].map((k) => `settings.${k}`)].filter((k) => {
      const at = (o: AccountingObjectInputs) => (k.startsWith("settings.") ? o.settings[k.slice(9)] : (o as unknown as Record<string, unknown>)[k]);
      return JSON.stringify(at(olds)) !== JSON.stringify(at(news));
    });
    const changes = replaces.length > 0 || JSON.stringify(olds.settings) !== JSON.stringify(news.settings) ||
      olds.controllerContainer !== news.controllerContainer || olds.dockerHost !== news.dockerHost;
    return { changes, replaces, deleteBeforeReplace: true };
  },
  async update(_id: string, olds: AccountingObjectInputs, news: AccountingObjectInputs) {
    await modify(news, olds);
    return { outs: news };
  },
  async delete(_id: string, olds: AccountingObjectInputs) {
    // Without a controller container there is no slurmdbd to remove it from (its database stays).
    const controller = await engine(olds.dockerHost).getContainer(olds.controllerContainer).inspect().catch(() => undefined);
    if (!controller?.State?.Running) return;
    if (!(await exists(olds))) return;
    // slurmdbd refuses to remove an account or user with running jobs: its message is the error.
    await sacctmgr(olds, ["delete", olds.kind, "where", `name=${olds.name}`]);
  },
};

type ObjectArgs = Readonly<Omit<AccountingObjectInputs, "kind" | "controllerContainer"> & { controllerContainer: pulumi.Input<string> }>;

/** A Slurm account (sacctmgr add account): parent, fair share and limits. */
export class SlurmAccount extends pulumi.dynamic.Resource {
  constructor(name: string, args: ObjectArgs, opts?: pulumi.CustomResourceOptions) {
    super(accountingProvider, name, { ...args, kind: "account" }, opts, TYPE_PREFIX, "SlurmAccount");
  }
}

/** A Slurm user and its association with its default account. */
export class SlurmUser extends pulumi.dynamic.Resource {
  constructor(name: string, args: ObjectArgs, opts?: pulumi.CustomResourceOptions) {
    super(accountingProvider, name, { ...args, kind: "user" }, opts, TYPE_PREFIX, "SlurmUser");
  }
}

/** A Slurm QOS: priority and wall-time limit. */
export class SlurmQos extends pulumi.dynamic.Resource {
  constructor(name: string, args: ObjectArgs, opts?: pulumi.CustomResourceOptions) {
    super(accountingProvider, name, { ...args, kind: "qos" }, opts, TYPE_PREFIX, "SlurmQos");
  }
}

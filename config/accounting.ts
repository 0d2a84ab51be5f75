import { z } from "zod";

// Users, accounts and QOS in stack config. Each key is a list, one entry per line (or separated
// by ";"): a name, then key=value settings. In a stack file a YAML block keeps it readable:
//
//   slurm-cluster:accounts: |
//     research fairshare=10
//     physics parent=research fairshare=5 maxjobs=1
//   slurm-cluster:users: |
//     alice uid=1001 account=research
//     bob uid=1002 account=physics admin=operator

export interface SlurmAccountSpec {
  name: string;
  /** Parent account (root when not given). */
  parent: string;
  fairshare: number;
  /** Running jobs at once per user of the account (MaxJobs); undefined: no limit. */
  maxJobs?: number;
  /** Trackable resources the whole account may hold at once (GrpTRES), e.g. cpu=8. */
  grpTres?: string;
  /** QOS the account's users may ask for; empty: Slurm's default (normal). */
  qos: string[];
}

export interface SlurmUserSpec {
  name: string;
  uid: number;
  gid: number;
  /** The user's default (and only) account. */
  account: string;
  /** Slurm admin level: none, operator or administrator. */
  admin: "none" | "operator" | "administrator";
  /** A public key file on the deploying machine (sshKey=; ~ expanded when read): the user's login over SSH. */
  sshKeyPath?: string;
}

export interface SlurmQosSpec {
  name: string;
  priority: number;
  /** Longest a job of this QOS may run, as Slurm writes time (e.g. 01:00:00, 2-00:00:00). */
  maxWall?: string;
}

const NAME = /^[a-z][a-z0-9_]{0,31}$/;

/** One entry: `name k=v k=v`. */
function entries(text: string): { name: string; settings: Record<string, string>; raw: string }[] {
  return text
    .split(/[;\n]/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith("#"))
    .map((raw) => {
      const [name, ...rest] = raw.split(/\s+/);
      const settings: Record<string, string> = {};
      for (const pair of rest) {
        const at = pair.indexOf("=");
        // Setting names are matched in any case: sshKey= as the README writes it, maxjobs= as Slurm does.
        settings[(at < 0 ? pair : pair.slice(0, at)).toLowerCase()] = at < 0 ? "" : pair.slice(at + 1);
      }
      return { name, settings, raw };
    });
}

/** A zod schema for a list of `name k=v ...` entries, each turned into T by `build` (which throws on a bad entry). */
function listSchema<T>(allowedKeys: string[], build: (name: string, s: Record<string, string>) => T) {
  return z.string().transform((text, ctx) => {
    const out: T[] = [];
    for (const { name, settings, raw } of entries(text)) {
      const unknown = Object.keys(settings).filter((k) => !allowedKeys.includes(k));
      try {
        if (!NAME.test(name)) throw new Error(`the name must be a lower case letter, then lower case letters, digits or _`);
        if (unknown.length > 0) throw new Error(`unknown setting(s) ${unknown.join(", ")} (known: ${allowedKeys.join(", ")})`);
        out.push(build(name, settings));
      } catch (err) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${raw}": ${(err as Error).message}`, params: { entry: true } });
      }
    }
    return out;
  });
}

const whole = (value: string | undefined, what: string, min: number, max: number): number | undefined => {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw new Error(`${what}=${value}: expected a whole number from ${min} to ${max}`);
  return Number(value);
};

export const ACCOUNTS_SCHEMA = listSchema<SlurmAccountSpec>(["parent", "fairshare", "maxjobs", "grptres", "qos"], (name, s) => {
  if (s.grptres !== undefined && !/^[a-z/]+=\d+[KMGT]?(,[a-z/]+=\d+[KMGT]?)*$/.test(s.grptres)) throw new Error(`grptres=${s.grptres}: expected e.g. cpu=8 or cpu=8,mem=4G`);
  return {
    name,
    parent: s.parent ?? "root",
    fairshare: whole(s.fairshare, "fairshare", 1, 1_000_000) ?? 1,
    maxJobs: whole(s.maxjobs, "maxjobs", 0, 1_000_000),
    grpTres: s.grptres,
    qos: s.qos ? s.qos.split(",") : [],
  };
});

export const USERS_SCHEMA = listSchema<SlurmUserSpec>(["uid", "gid", "account", "admin", "sshkey"], (name, s) => {
  const uid = whole(s.uid, "uid", 1000, 60000);
  if (uid === undefined) throw new Error("uid=<1000..60000> is required (the same on every node)");
  if (!s.account) throw new Error("account=<account> is required (the user's default account)");
  const admin = s.admin ?? "none";
  if (!["none", "operator", "administrator"].includes(admin)) throw new Error(`admin=${admin}: expected none, operator or administrator`);
  if (s.sshkey !== undefined && s.sshkey.trim() === "") throw new Error("sshKey=<path to a public key file> is empty");
  return {
    name,
    uid,
    gid: whole(s.gid, "gid", 1000, 60000) ?? uid,
    account: s.account,
    admin: admin as SlurmUserSpec["admin"],
    ...(s.sshkey !== undefined ? { sshKeyPath: s.sshkey } : {}),
  };
});

export const QOS_SCHEMA = listSchema<SlurmQosSpec>(["priority", "maxwall"], (name, s) => {
  if (s.maxwall !== undefined && !/^(\d+-)?\d{1,2}:\d{2}:\d{2}$/.test(s.maxwall)) throw new Error(`maxwall=${s.maxwall}: expected [days-]hh:mm:ss`);
  return { name, priority: whole(s.priority, "priority", 0, 1_000_000) ?? 0, maxWall: s.maxwall };
});

/** Problems between the lists: duplicates, unknown parents, accounts and QOS. One line each. */
export function accountingProblems(accounts: SlurmAccountSpec[], users: SlurmUserSpec[], qos: SlurmQosSpec[], key: (k: string) => string): string[] {
  const problems: string[] = [];
  const dupes = (names: string[]) => names.filter((n, i) => names.indexOf(n) !== i);
  for (const n of new Set(dupes(accounts.map((a) => a.name)))) problems.push(`${key("accounts")}: account ${n} is declared twice`);
  for (const n of new Set(dupes(users.map((u) => u.name)))) problems.push(`${key("users")}: user ${n} is declared twice`);
  for (const uid of new Set(dupes(users.map((u) => String(u.uid))))) problems.push(`${key("users")}: uid ${uid} is given to more than one user`);
  for (const n of new Set(dupes(qos.map((q) => q.name)))) problems.push(`${key("qos")}: QOS ${n} is declared twice`);
  const accountNames = new Set(["root", ...accounts.map((a) => a.name)]);
  for (const a of accounts) {
    // Follow the parents: a chain that comes back to the account is a cycle.
    let up = a.parent;
    for (let i = 0; i < accounts.length && up !== "root"; i++) {
      if (up === a.name) {
        problems.push(`${key("accounts")}: account ${a.name} is its own ancestor (parent=${a.parent})`);
        break;
      }
      up = accounts.find((x) => x.name === up)?.parent ?? "root";
    }
    if (!accountNames.has(a.parent)) problems.push(`${key("accounts")}: account ${a.name} has parent ${a.parent}, which is not declared`);
    for (const q of a.qos) if (q !== "normal" && !qos.some((x) => x.name === q)) problems.push(`${key("accounts")}: account ${a.name} names QOS ${q}, which is not declared in ${key("qos")}`);
  }
  for (const u of users) {
    if (!accounts.some((a) => a.name === u.account)) problems.push(`${key("users")}: user ${u.name} has default account ${u.account}, which is not declared in ${key("accounts")}`);
  }
  return problems;
}

/** Accounts ordered parents first (the order they can be created in). */
export function parentsFirst(accounts: SlurmAccountSpec[]): SlurmAccountSpec[] {
  const done = new Set(["root"]);
  const out: SlurmAccountSpec[] = [];
  while (out.length < accounts.length) {
    const next = accounts.filter((a) => !done.has(a.name) && done.has(a.parent));
    if (next.length === 0) break; // a cycle: refused by accountingProblems before this runs
    for (const a of next) {
      done.add(a.name);
      out.push(a);
    }
  }
  return out;
}

/** The users' Linux accounts, one `name:uid:gid` line each: every Slurm container creates them at start. */
export function renderUsersFile(users: SlurmUserSpec[]): string {
  return users.map((u) => `${u.name}:${u.uid}:${u.gid}\n`).join("");
}

// The same stacks through the real Pulumi CLI, where a `pulumi` binary is on PATH: the Automation
// API runs `pulumi preview`, `up` and `destroy` with the real docker and random providers. It works
// on a copy of the project with a local file backend, so the stack files in the checkout are not
// changed (a passphrase secrets provider writes a salt into them).
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Stack } from "@pulumi/pulumi/automation";
import { PROJECT_ROOT } from "../config/project";

/** The pulumi binary's path, or undefined when there is none (as on the build machine). */
export function pulumiOnPath(): string | undefined {
  const res = spawnSync("sh", ["-c", "command -v pulumi"], { encoding: "utf8" });
  return res.status === 0 && res.stdout.trim() ? res.stdout.trim() : undefined;
}

const SKIP = new Set(["node_modules", ".git", ".local-state", "coverage", "dist"]);

/** A stack of a throwaway copy of the project on a file backend; `-c key=value` overrides as config. */
export async function pulumiCliStack(stackName: string, overrides: string[] = []): Promise<{ stack: Stack; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "slurm-cluster-cli-"));
  const workDir = path.join(dir, "project");
  fs.cpSync(PROJECT_ROOT, workDir, { recursive: true, filter: (src) => !SKIP.has(path.basename(src)) });
  fs.symlinkSync(path.join(PROJECT_ROOT, "node_modules"), path.join(workDir, "node_modules"));
  fs.mkdirSync(path.join(dir, "backend"));
  const { LocalWorkspace } = await import("@pulumi/pulumi/automation"); // loaded here: pulumiOnPath is asked on every CLI call
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName, workDir },
    { envVars: { PULUMI_BACKEND_URL: `file://${path.join(dir, "backend")}`, PULUMI_CONFIG_PASSPHRASE: "" }, secretsProvider: "passphrase" },
  );
  await setConfigOverrides(stack, overrides);
  return { stack, dir };
}

/** `-c key=value` overrides as stack config (a key without a namespace is the project's). */
export async function setConfigOverrides(stack: Stack, overrides: string[]): Promise<void> {
  for (const o of overrides) {
    const eq = o.indexOf("=");
    const key = o.slice(0, eq);
    await stack.setConfig(key.includes(":") ? key : `slurm-cluster:${key}`, { value: o.slice(eq + 1) });
  }
}

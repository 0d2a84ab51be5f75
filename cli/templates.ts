// The job templates in job-templates/: a template is one batch script (<name>.sbatch) or a
// directory of stages (<name>/1-<stage>.sbatch, 2-..., run in order, each after the one before
// succeeded). What a template needs is read from its #SBATCH header; its description is the first
// paragraph of comments under the #! line.
import * as fs from "fs";
import * as path from "path";
import { PROJECT_ROOT } from "../config/project";
import { CliError } from "./errors";

const TEMPLATES_DIR = path.join(PROJECT_ROOT, "job-templates");

interface Stage {
  /** The stage's name (the file name without number and extension), or the template's. */
  readonly name: string;
  readonly file: string;
  readonly script: string;
  /** The #SBATCH options, long names without dashes: { nodes: "2", array: "0-3", ... }. */
  readonly options: Record<string, string>;
}

export interface Template {
  readonly name: string;
  readonly description: string;
  readonly stages: Stage[];
}

/** #SBATCH lines up to the first command, as { option: value }; short options by their long names. */
export function sbatchOptions(script: string): Record<string, string> {
  const short: Record<string, string> = { N: "nodes", n: "ntasks", c: "cpus-per-task", t: "time", a: "array", J: "job-name", o: "output", p: "partition" };
  const options: Record<string, string> = {};
  for (const line of script.split("\n")) {
    if (!line.startsWith("#")) {
      if (line.trim()) break; // sbatch stops reading #SBATCH at the first command
      continue;
    }
    const m = /^#SBATCH\s+(?:--([\w-]+)(?:[=\s]+(\S+))?|-(\w)\s*(\S+)?)/.exec(line);
    if (!m) continue;
    const key = m[1] ?? short[m[3]] ?? m[3];
    options[key] = m[2] ?? m[4] ?? "";
  }
  return options;
}

/** The first paragraph of comments after the #! line, as one line. */
function description(script: string): string {
  const lines = script.split("\n").slice(script.startsWith("#!") ? 1 : 0);
  const words: string[] = [];
  for (const line of lines) {
    if (!line.startsWith("#") || line.startsWith("#SBATCH") || line.trim() === "#") break;
    words.push(line.replace(/^#\s?/, "").trim());
  }
  return words.join(" ").replace(/^[\w-]+:\s*/, ""); // "ml-training: ..." names the template itself
}

function stage(file: string, name: string): Stage {
  const script = fs.readFileSync(file, "utf8");
  return { name, file, script, options: sbatchOptions(script) };
}

/** One template from job-templates/, by name. */
export function loadTemplate(name: string, dir = TEMPLATES_DIR): Template {
  const single = path.join(dir, `${name}.sbatch`);
  const staged = path.join(dir, name);
  if (/^[\w-]+$/.test(name) && fs.existsSync(single)) {
    const s = stage(single, name);
    return { name, description: description(s.script), stages: [s] };
  }
  if (/^[\w-]+$/.test(name) && fs.existsSync(staged) && fs.statSync(staged).isDirectory()) {
    const files = fs.readdirSync(staged).filter((f) => /^\d+-[\w-]+\.sbatch$/.test(f)).sort((a, b) => parseInt(a) - parseInt(b));
    if (files.length > 0) {
      const stages = files.map((f) => stage(path.join(staged, f), f.replace(/\.sbatch$/, "")));
      return { name, description: description(stages[0].script), stages };
    }
  }
  throw new CliError(`unknown template ${name}: the templates are ${listTemplates(dir).map((t) => t.name).join(", ")} (or give a path to an .sbatch file)`, 2);
}

/** A batch script of the user's own, as a one-stage template. */
function scriptTemplate(file: string): Template {
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) throw new CliError(`no such batch script: ${file}`, 2);
  const name = path.basename(file).replace(/\.(sbatch|sh)$/, "");
  const s = stage(file, name);
  return { name, description: description(s.script), stages: [s] };
}

/** A template by name, or a script by path (anything with a slash or ending in .sbatch/.sh). */
export function resolveTemplate(nameOrFile: string, dir = TEMPLATES_DIR): Template {
  return /[/\\]|\.(sbatch|sh)$/.test(nameOrFile) ? scriptTemplate(nameOrFile) : loadTemplate(nameOrFile, dir);
}

export function listTemplates(dir = TEMPLATES_DIR): Template[] {
  const names = fs
    .readdirSync(dir)
    .map((f) => (f.endsWith(".sbatch") ? f.slice(0, -7) : fs.statSync(path.join(dir, f)).isDirectory() ? f : ""))
    .filter(Boolean)
    .sort();
  return names.map((n) => loadTemplate(n, dir));
}

/** The resources a template asks for, per stage, for `templates`. */
export function templateSummary(t: Template) {
  return {
    name: t.name,
    description: t.description,
    stages: t.stages.map((s) => ({
      name: s.name,
      nodes: s.options.nodes ?? "1",
      ntasks: s.options.ntasks ?? (s.options["ntasks-per-node"] ? `${s.options["ntasks-per-node"]}/node` : "1"),
      cpusPerTask: s.options["cpus-per-task"] ?? "1",
      mem: s.options.mem ?? "",
      time: s.options.time ?? "",
      array: s.options.array ?? "",
    })),
  };
}

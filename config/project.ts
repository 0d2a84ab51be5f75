// Where the project lives: the checkout holding Pulumi.yaml, found from this file whether it runs
// from its TypeScript source (config/) or from the CLI's build (dist/config/, npm ci's prepare).
import * as fs from "fs";
import * as path from "path";

export const PROJECT_NAME = "slurm-cluster";

/** The nearest folder at or above `from` that holds Pulumi.yaml. */
function projectRootFrom(from: string, exists: (file: string) => boolean = fs.existsSync): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (exists(path.join(dir, "Pulumi.yaml"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no Pulumi.yaml at or above ${from}: is this a slurm-cluster checkout?`);
  }
}

export const PROJECT_ROOT = projectRootFrom(__dirname);

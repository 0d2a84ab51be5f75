import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";

/** Where the project's Dockerfiles live, relative to the project root (Pulumi runs from there). */
export const IMAGES_DIR = "shared/images";

export type ImageKind = "slurm" | "slurm-systemd" | "mariadb";

/**
 * The image's name: a content hash of its build context and build arguments as the tag, so
 * containers are replaced exactly when their image's sources change, and an unchanged image
 * is not rebuilt.
 */
export function imageName(kind: ImageKind, buildArgs: Record<string, string>): string {
  const contextDir = path.join(__dirname, "..", IMAGES_DIR, kind);
  const hash = crypto.createHash("sha256");
  for (const key of Object.keys(buildArgs).sort()) hash.update(`${key}=${buildArgs[key]}\n`);
  for (const file of fs.readdirSync(contextDir).sort()) {
    const full = path.join(contextDir, file);
    if (!fs.statSync(full).isFile()) continue;
    hash.update(`${file}\n`).update(fs.readFileSync(full));
  }
  return `slurm-cluster/${kind}:${hash.digest("hex").slice(0, 12)}`;
}

/** Builds one of the project's images (`shared/images/<kind>`) with the given build arguments. */
export function projectImage(
  name: string,
  kind: ImageKind,
  buildArgs: Record<string, string>,
  opts: pulumi.CustomResourceOptions,
): docker.Image {
  const context = `./${IMAGES_DIR}/${kind}`;
  return new docker.Image(
    name,
    {
      imageName: imageName(kind, buildArgs),
      build: {
        context,
        dockerfile: `${context}/Dockerfile`,
        args: buildArgs,
        // The classic builder works on every engine here, including ones without buildx.
        builderVersion: "BuilderV1",
      },
      skipPush: true,
      buildOnPreview: false,
    },
    opts,
  );
}

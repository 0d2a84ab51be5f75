import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";

/** Where the project's Dockerfiles live, relative to the project root (Pulumi runs from there). */
export const IMAGES_DIR = "shared/images";

/**
 * A content hash of a build context and its base image. Used as the image tag, so containers
 * are replaced exactly when their image's sources change, and an unchanged image is not rebuilt.
 */
export function contextHash(contextDir: string, baseImage: string): string {
  const hash = crypto.createHash("sha256").update(`base=${baseImage}\n`);
  for (const file of fs.readdirSync(contextDir).sort()) {
    const full = path.join(contextDir, file);
    if (!fs.statSync(full).isFile()) continue;
    hash.update(`${file}\n`).update(fs.readFileSync(full));
  }
  return hash.digest("hex").slice(0, 12);
}

/** Builds one of the project's images (`shared/images/<kind>`) FROM the configured base image. */
export function projectImage(
  name: string,
  kind: "slurm" | "mariadb",
  baseImage: string,
  opts: pulumi.CustomResourceOptions,
): docker.Image {
  const context = `./${IMAGES_DIR}/${kind}`;
  const tag = contextHash(path.join(__dirname, "..", IMAGES_DIR, kind), baseImage);
  return new docker.Image(
    name,
    {
      imageName: `slurm-cluster/${kind}:${tag}`,
      build: {
        context,
        dockerfile: `${context}/Dockerfile`,
        args: { BASE_IMAGE: baseImage },
        // The classic builder works on every engine here, including ones without buildx.
        builderVersion: "BuilderV1",
      },
      skipPush: true,
      buildOnPreview: false,
    },
    opts,
  );
}

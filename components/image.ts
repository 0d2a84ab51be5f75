import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";

/** Where the project's Dockerfiles live, relative to the project root (Pulumi runs from there). */
export const IMAGES_DIR = "shared/images";

export type ImageKind = "slurm" | "slurm-worker" | "slurm-systemd" | "mariadb" | "monitoring" | "slurm-exporter";

/** Where an image is built from, relative to the project root, and what its tag hashes. */
interface ImageSource {
  context: string;
  dockerfile: string;
  /** Files and folders whose content decides the image (the tag is their hash). */
  inputs: string[];
}

export function imageSource(kind: ImageKind): ImageSource {
  const dir = `${IMAGES_DIR}/${kind}`;
  if (kind === "slurm-exporter") {
    // Built from the project root (see .dockerignore): the exporter's source and its npm packages.
    return { context: ".", dockerfile: `${dir}/Dockerfile`, inputs: [dir, "shared/slurm-exporter", "package-lock.json", ".dockerignore"] };
  }
  return { context: dir, dockerfile: `${dir}/Dockerfile`, inputs: [dir] };
}

const PROJECT_ROOT = path.join(__dirname, "..");

function hashPath(hash: crypto.Hash, relative: string): void {
  const full = path.join(PROJECT_ROOT, relative);
  if (fs.statSync(full).isDirectory()) {
    for (const entry of fs.readdirSync(full).sort()) hashPath(hash, `${relative}/${entry}`);
  } else {
    hash.update(`${relative}\n`).update(fs.readFileSync(full));
  }
}

/**
 * The image's name: a content hash of its sources and build arguments as the tag, so
 * containers are replaced exactly when their image's sources change, and an unchanged image
 * is not rebuilt.
 */
export function imageName(kind: ImageKind, buildArgs: Record<string, string>, platform: string): string {
  const hash = crypto.createHash("sha256");
  hash.update(`platform=${platform}\n`);
  for (const key of Object.keys(buildArgs).sort()) hash.update(`${key}=${buildArgs[key]}\n`);
  for (const input of imageSource(kind).inputs) hashPath(hash, input);
  return `slurm-cluster/${kind}:${hash.digest("hex").slice(0, 12)}`;
}

/** Builds one of the project's images (`shared/images/<kind>`) with the given build arguments. */
export function projectImage(
  name: string,
  kind: ImageKind,
  buildArgs: Record<string, string>,
  platform: string,
  opts: pulumi.CustomResourceOptions,
): docker.Image {
  const source = imageSource(kind);
  return new docker.Image(
    name,
    {
      imageName: imageName(kind, buildArgs, platform),
      build: {
        context: source.context === "." ? "." : `./${source.context}`,
        dockerfile: `./${source.dockerfile}`,
        args: buildArgs,
        // linux/arm64 on an amd64 engine builds under emulation (binfmt with qemu-user-static).
        platform,
        // The classic builder works on every engine here, including ones without buildx.
        builderVersion: "BuilderV1",
      },
      skipPush: true,
      buildOnPreview: false,
    },
    opts,
  );
}

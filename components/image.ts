import * as crypto from "crypto";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { PROJECT_ROOT } from "../config/project";
import { contextDigest } from "./build-context";

/** Where the project's Dockerfiles live, relative to the project root (Pulumi runs from there). */
const IMAGES_DIR = "shared/images";

type ImageKind = "slurm" | "slurm-worker" | "slurm-systemd" | "slurm-login" | "mariadb" | "monitoring" | "slurm-exporter";

/** Where an image is built from, relative to the project root. */
interface ImageSource {
  context: string;
  dockerfile: string;
}

function imageSource(kind: ImageKind): ImageSource {
  const dir = `${IMAGES_DIR}/${kind}`;
  // The exporter is built from the project root (see .dockerignore): its source and its npm packages.
  return { context: kind === "slurm-exporter" ? "." : dir, dockerfile: `${dir}/Dockerfile` };
}


/**
 * The image's name: the Slurm release (build argument SLURM_RELEASE) and a hash of its build context as Docker receives it (.dockerignore applied, as
 * pulumi-docker's contextDigest), its Dockerfile, build arguments and platform as the tag, so
 * containers are replaced exactly when their image's sources change, and an unchanged image
 * is not rebuilt.
 */
export function imageName(kind: ImageKind, buildArgs: Record<string, string>, platform: string): string {
  const source = imageSource(kind);
  const hash = crypto.createHash("sha256");
  hash.update(`platform=${platform}\n`);
  for (const key of Object.keys(buildArgs).sort()) hash.update(`${key}=${buildArgs[key]}\n`);
  hash.update(contextDigest(path.join(PROJECT_ROOT, source.context), path.join(PROJECT_ROOT, source.dockerfile)));
  // The Slurm release leads the tag, so `docker images` tells the releases' images apart.
  const release = buildArgs.SLURM_RELEASE ? `${buildArgs.SLURM_RELEASE}-` : "";
  return `slurm-cluster/${kind}:${release}${hash.digest("hex").slice(0, 12)}`;
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

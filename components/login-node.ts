import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as tls from "@pulumi/tls";
import { ClusterSpec } from "../config";
import { LoginSpec } from "../config/spec";
import { REPLACE_ON_CHANGES, SlurmNodeFiles, TYPE_PREFIX, onNetwork, sharedMount, slurmUploads, tcpReadinessCheck } from "./container-parts";
import { dockerLabels } from "./labels";
import { PROJECT_ROOT } from "../config/project";
import { containerBaseline } from "../config/render/container-baseline";

export interface LoginNodeArgs {
  /** The part of the validated spec it reads. */
  readonly spec: Pick<ClusterSpec, "accounting" | "sharedMountPath" | "labels" | "serviceMemoryMb" | "userProcessLimit">;
  /** The spec's login part (set on a cluster stack). */
  readonly login: LoginSpec;
  /** The login image: the Slurm image with OpenSSH's server. */
  readonly loginImage: pulumi.Input<string>;
  /** Network, munge key, Slurm config files and shared volume. */
  readonly files: SlurmNodeFiles;
}

/** Where the job templates are on the login node. */
const LOGIN_TEMPLATES_DIR = "/opt/slurm-cluster/job-templates";
const TEMPLATES_SOURCE = path.join(PROJECT_ROOT, "job-templates");
const SSH_PORT = 22;

/** Every file of the project's job templates, as uploads under LOGIN_TEMPLATES_DIR (read-only to users). */
function templateUploads(dir = TEMPLATES_SOURCE, rel = ""): { file: string; content: string; permissions: string }[] {
  return fs
    .readdirSync(path.join(dir, rel), { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => {
      const file = path.posix.join(rel, entry.name);
      if (entry.isDirectory()) return templateUploads(dir, file);
      const executable = (fs.statSync(path.join(dir, file)).mode & 0o111) !== 0;
      return [{ file: `${LOGIN_TEMPLATES_DIR}/${file}`, content: fs.readFileSync(path.join(dir, file), "utf8"), permissions: executable ? "0755" : "0644" }];
    });
}

/**
 * The login node: sshd (public keys only, no root, no passwords) in front of the Slurm client
 * commands, for the cluster's users. Its host key is a Pulumi resource of the stack, so a new
 * login container keeps the key users' known_hosts already trust.
 */
export class LoginNode extends pulumi.ComponentResource {
  public readonly containerName: pulumi.Output<string>;
  public readonly host: string;
  public readonly port: number;
  /** e.g. `ssh -p 2222 alice@127.0.0.1` (the first user), for the stack output. */
  public readonly sshCommand: string;
  /** The host's public key (a known_hosts line is `[host]:port <this>`). */
  public readonly hostKey: pulumi.Output<string>;

  constructor(name: string, args: LoginNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super(`${TYPE_PREFIX}:index:LoginNode`, name, {}, opts);
    const { spec, login, files } = args;

    // Generated once per stack and kept in its state (secret): only a change of algorithm replaces it.
    const hostKey = new tls.PrivateKey(`${name}-host-key`, { algorithm: "ED25519" }, { parent: this });

    const container = new docker.Container(
      `${name}-sshd`,
      {
        name: login.container,
        hostname: login.host,
        image: args.loginImage,
        ...containerBaseline(spec, "login"),
        command: ["login"],
        labels: dockerLabels(spec, "login"),
        networksAdvanced: onNetwork(files, login.host),
        mounts: [sharedMount(spec, files)],
        uploads: [
          ...slurmUploads(files),
          { file: "/etc/ssh/ssh_host_ed25519_key", content: hostKey.privateKeyOpenssh, permissions: "0600" },
          ...templateUploads(),
        ],
        ports: [{ internal: SSH_PORT, external: login.port, ip: login.bindAddress, protocol: "tcp" }],
        healthcheck: tcpReadinessCheck(SSH_PORT),
        wait: true,
        waitTimeout: 180,
        restart: "unless-stopped",
      },
      { parent: this, dependsOn: opts?.dependsOn, replaceOnChanges: REPLACE_ON_CHANGES },
    );

    this.containerName = container.name;
    this.host = login.bindAddress;
    this.port = login.port;
    this.sshCommand = `ssh -p ${login.port} ${spec.accounting.users[0]?.name ?? "<user>"}@${login.bindAddress}`;
    this.hostKey = hostKey.publicKeyOpenssh.apply((k) => k.trim());
    this.registerOutputs({ containerName: this.containerName, host: this.host, port: this.port, sshCommand: this.sshCommand, hostKey: this.hostKey });
  }
}

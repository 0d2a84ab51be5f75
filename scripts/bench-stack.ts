// npx ts-node --transpile-only scripts/bench-stack.ts [--rounds N]
// The project's own stack beside plain Slurm best in the same round: the ubuntu stack (default
// config, no Grafana) through the runner, 200 trivial jobs from 4 submitters and 40 `sleep 1`
// jobs on its 4 slots, submitted by root and by the cluster user alice; then with the Slurm
// exporter and Prometheus stopped (their polling); then with the workers' epilog taken out
// (slurmd restarted). Uses and removes the ubuntu stack like `npm run bench`, and puts its stack
// file back. One JSON line per measure on stdout; not part of npm test.
import * as fs from "fs";
import * as path from "path";
import { down, up } from "../local-runner/engine";
import { PROJECT_ROOT } from "../config/project";
import { dockerExec, drain, plainCluster, plainSlurmConf, sh, slotUse, until } from "./bench-parts";

const STACK = "ubuntu";
const started = Date.now();
const progress = (line: string) => process.stderr.write(`[stack ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`);
const quiet = () => undefined;

async function measure(round: number, variant: string, ctl: string, user?: string) {
  progress(`round ${round}: ${variant}`);
  const rate = await drain(ctl, 200, 4, user);
  const slots = await slotUse(ctl, 40, 4, user);
  process.stdout.write(JSON.stringify({ round, variant, jobsPerSecond: +rate.jobsPerSecond.toFixed(2), submitsPerSecond: +rate.submitsPerSecond.toFixed(1), sleepSeconds: +slots.seconds.toFixed(1), slotUse: +slots.use.toFixed(2) }) + "\n");
}

async function main() {
  const args = process.argv.slice(2);
  const rounds = args.includes("--rounds") ? Number(args[args.indexOf("--rounds") + 1]) : 1;
  for (let round = 1; round <= rounds; round++) {
    const plain = await plainCluster(plainSlurmConf(true));
    try {
      await measure(round, "plain-best", plain.controller);
    } finally {
      plain.clean();
    }
    progress("up (default stack, no Grafana)");
    const result = await up(STACK, { overrides: ["grafana=false"], progress: quiet });
    const ctl = (result.outputs as unknown as { controller: { containerName: string } }).controller.containerName;
    await measure(round, "stack", ctl);
    await measure(round, "stack-as-alice", ctl, "alice");
    sh("docker", ["stop", `slurm-${STACK}-slurm-exporter`, `slurm-${STACK}-prometheus`]);
    await measure(round, "stack-no-exporter-polling", ctl);
    sh("docker", ["start", `slurm-${STACK}-slurm-exporter`, `slurm-${STACK}-prometheus`]);
    const workers = ["worker1", "worker2"].map((w) => `slurm-${STACK}-${w}`);
    for (const w of workers) dockerExec(w, ["sed", "-i", "/^Epilog=/d", "/etc/slurm/slurm.conf"]);
    sh("docker", ["restart", ...workers]);
    await until("2 idle nodes after the workers' restart", 120, () => (dockerExec(ctl, ["sinfo", "-h", "-t", "idle", "-o", "%D"]) === "2" ? true : undefined));
    await measure(round, "stack-no-epilog", ctl);
    await down(STACK, { volumes: true, progress: quiet });
  }
}

const stackFile = path.join(PROJECT_ROOT, `Pulumi.${STACK}.yaml`);
const stackFileBefore = fs.readFileSync(stackFile, "utf8");
main()
  .catch((err) => {
    process.stderr.write(`bench-stack failed: ${err instanceof Error ? err.stack : err}\n`);
    process.exitCode = 1;
  })
  .finally(() => fs.writeFileSync(stackFile, stackFileBefore));

// npx ts-node --transpile-only scripts/bench-settings.ts [--rounds N] [variant ...]
// Where the short-job rate goes, one slurm.conf difference at a time: the plain Slurm cluster of
// `npm run bench` (the project's images on plain `docker run`, 2 workers x 2 CPUs) started with
// each variant's slurm.conf in turn (a name ending in +healthchecks adds the stack's healthchecks), 200 trivial jobs from 4 submitters and 40 `sleep 1` jobs on
// the 4 slots each. Rounds repeat the variants in the same order, so each is compared with plain
// best of the same round. Prints one JSON line per measure on stdout; not part of npm test.
import { loadClusterSpec } from "../config";
import { renderSlurmConf } from "../config/render";
import { drain, plainCluster, plainSlurmConf, slotUse } from "./bench-parts";

const started = Date.now();
const progress = (line: string) => process.stderr.write(`[settings ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`);

/** slurm.conf without the lines setting `keys`. */
const without = (conf: string, ...keys: string[]) =>
  conf
    .split("\n")
    .filter((l) => !keys.includes(/^([A-Za-z]+)=/.exec(l)?.[1] ?? ""))
    .join("\n");
const plus = (conf: string, ...lines: string[]) => `${conf.trimEnd()}\n${lines.join("\n")}\n`;

async function variants(): Promise<Record<string, string>> {
  const spec = await loadClusterSpec(
    { "slurm-cluster:clusterName": "floor", "slurm-cluster:cgroupMode": "none", "slurm-cluster:workerCpus": "2", "slurm-cluster:workerMemoryMb": "1024" },
    { project: "slurm-cluster", stack: "floor" },
  );
  const best = plainSlurmConf(true);
  const project = renderSlurmConf(spec);
  const projectEpilog = /^Epilog=/m.test(project) ? project : plus(project, "Epilog=/bin/true");
  return {
    "plain-best": best,
    "plain-best-no-epilog": without(best, "Epilog"),
    "plain-best+privatedata": plus(best, "PrivateData=accounts,jobs,reservations,usage,users"),
    "plain-best+enforce": plus(best, "AccountingStorageEnforce=associations,limits,qos"),
    "plain-best+jobacct-linux": plus(best, "JobAcctGatherType=jobacct_gather/linux", "JobAcctGatherFrequency=30"),
    "plain-best+multifactor": plus(best, "PriorityType=priority/multifactor", "PriorityWeightFairshare=10000", "PriorityWeightQOS=1000", "PriorityWeightAge=1000"),
    project: without(project, "Epilog"),
    "project+epilog": projectEpilog,
    "project+epilog-privatedata": without(projectEpilog, "PrivateData"),
    "project+epilog-enforce": without(projectEpilog, "AccountingStorageEnforce"),
    "project+epilog-jobacct": without(projectEpilog, "JobAcctGatherType", "JobAcctGatherFrequency"),
    "project+epilog-multifactor": without(projectEpilog, "PriorityType", "PriorityWeightFairshare", "PriorityWeightQOS", "PriorityWeightAge", "PriorityDecayHalfLife"),
    "project+epilog-jwt": without(projectEpilog, "AuthAltTypes", "AuthAltParameters"),
  };
}

async function main() {
  const args = process.argv.slice(2);
  const rounds = args.includes("--rounds") ? Number(args[args.indexOf("--rounds") + 1]) : 1;
  const named = args.filter((a, i) => !a.startsWith("--") && args[i - 1] !== "--rounds");
  const all = await variants();
  const chosen = named.length ? named : Object.keys(all);
  for (const name of chosen) if (!(name.replace(/\+healthchecks$/, "") in all)) throw new Error(`no variant ${name}: ${Object.keys(all).join(", ")}`);
  for (let round = 1; round <= rounds; round++) {
    for (const name of chosen) {
      progress(`round ${round}: ${name}`);
      const cluster = await plainCluster(all[name.replace(/\+healthchecks$/, "")] ?? all[name], { healthchecks: name.endsWith("+healthchecks") });
      try {
        const rate = await drain(cluster.controller, 200);
        const slots = await slotUse(cluster.controller, 40, 4);
        process.stdout.write(JSON.stringify({ round, variant: name, jobsPerSecond: +rate.jobsPerSecond.toFixed(2), submitsPerSecond: +rate.submitsPerSecond.toFixed(1), sleepSeconds: +slots.seconds.toFixed(1), slotUse: +slots.use.toFixed(2) }) + "\n");
      } finally {
        cluster.clean();
      }
    }
  }
}

main().catch((err) => {
  process.stderr.write(`bench-settings failed: ${err instanceof Error ? err.stack : err}\n`);
  process.exitCode = 1;
});

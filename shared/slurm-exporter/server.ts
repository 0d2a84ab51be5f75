// The Slurm exporter's HTTP server: on each scrape it runs each Slurm command once (in
// parallel), turns the JSON into samples and serves them in Prometheus' text format.
import { execFile } from "child_process";
import * as fs from "fs";
import * as http from "http";
import { otherMachines } from "./discovery";
import { SlurmJson, collectSamples, jobsLackUserNames, parseAssocUserNames } from "./metrics";
import { createExporterRegistry } from "./registry";
import { FROM_SLURMCTLD, SLURMCTLD_METRIC_ENDPOINTS } from "./slurmctld-metrics";

const COMMANDS: Record<keyof SlurmJson, string[]> = {
  nodes: ["scontrol", "--json", "show", "nodes"],
  squeue: ["squeue", "--json", "--states=all"],
  sdiag: ["sdiag", "--json"],
};

// Slurm 26.05: slurmctld serves its own metrics (SLURMCTLD_URL, with a token for this exporter's
// user in SLURMCTLD_TOKEN_FILE); this exporter relays them to Prometheus, which is not on the
// cluster network, and leaves out what Prometheus records from them.
const slurmctldUrl = process.env.SLURMCTLD_URL ?? "";
const slurmctldTokenFile = process.env.SLURMCTLD_TOKEN_FILE ?? "";
const exporter = createExporterRegistry({ processMetrics: true, omit: new Set(slurmctldUrl ? Object.keys(FROM_SLURMCTLD) : []) });

/** GET slurmctld's /metrics/<endpoint> with the token, answered to Prometheus as slurmctld answered. */
function relaySlurmctld(endpoint: string, res: http.ServerResponse): void {
  let token: string;
  try {
    token = fs.readFileSync(slurmctldTokenFile, "utf8").trim();
  } catch (err) {
    res.writeHead(500, { "Content-Type": "text/plain" });
    res.end(`no token for slurmctld: ${(err as Error).message}\n`);
    return;
  }
  const upstream = http.get(`${slurmctldUrl}/metrics/${endpoint}`, { headers: { Authorization: `Bearer ${token}` }, timeout: 20_000 }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, { "Content-Type": answer.headers["content-type"] ?? "text/plain" });
    answer.pipe(res);
  });
  upstream.on("timeout", () => upstream.destroy(new Error("slurmctld did not answer in 20 s")));
  upstream.on("error", (err) => {
    if (res.headersSent) return void res.destroy();
    res.writeHead(502, { "Content-Type": "text/plain" });
    res.end(`slurmctld: ${err.message}\n`);
  });
}

function runText(argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(argv[0], argv.slice(1), { timeout: 20_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${argv.join(" ")}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

const run = async (argv: string[]): Promise<unknown> => JSON.parse(await runText(argv));

/** uid -> name from slurmctld, asked only when squeue left a job's user unnamed (Slurm 26.05). */
async function userNamesFor(data: SlurmJson): Promise<Record<number, string>> {
  if (!jobsLackUserNames(data)) return {};
  try {
    return parseAssocUserNames(await runText(["scontrol", "show", "assoc_mgr", "flags=users"]));
  } catch (err) {
    console.error(`[slurm-exporter] ${(err as Error).message}`);
    return {};
  }
}

async function refresh(): Promise<void> {
  const keys = Object.keys(COMMANDS) as (keyof SlurmJson)[];
  const results = await Promise.all(
    keys.map(async (key) => {
      const started = process.hrtime.bigint();
      const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
      try {
        const json = await run(COMMANDS[key]);
        exporter.command(key, true, seconds());
        return json;
      } catch (err) {
        exporter.command(key, false, seconds());
        console.error(`[slurm-exporter] ${(err as Error).message}`);
        return {};
      }
    }),
  );
  const data = Object.fromEntries(keys.map((k, i) => [k, results[i]])) as unknown as SlurmJson;
  exporter.update(collectSamples(data, await userNamesFor(data)));
}

// Scrapes that arrive together share one refresh, so Slurm sees each command once.
let inFlight: Promise<void> | undefined;
function refreshOnce(): Promise<void> {
  inFlight ??= refresh().finally(() => (inFlight = undefined));
  return inFlight;
}

const port = Number(process.env.SLURM_EXPORTER_PORT ?? 8080);
http
  .createServer(async (req, res) => {
    if (req.url === "/sd/node-exporters") {
      // Prometheus' http_sd: the other machines' node exporters, from the nodes' addresses.
      try {
        const own = { cluster: process.env.CLUSTER_NAME ?? "", partition: process.env.CLUSTER_PARTITION ?? "", port: Number(process.env.NODE_EXPORTER_PORT ?? 9100) };
        const groups = otherMachines((await run(COMMANDS.nodes)) as Parameters<typeof otherMachines>[0], own);
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify(groups));
      } catch (err) {
        res.writeHead(500, { "Content-Type": "text/plain" });
        res.end(`${(err as Error).message}\n`);
      }
      return;
    }
    const relayed = /^\/slurmctld\/metrics\/([a-z-]+)$/.exec(req.url ?? "");
    if (slurmctldUrl && relayed && (SLURMCTLD_METRIC_ENDPOINTS as readonly string[]).includes(relayed[1])) {
      relaySlurmctld(relayed[1], res);
      return;
    }
    if (req.url !== "/metrics") {
      res.writeHead(req.url === "/" ? 200 : 404, { "Content-Type": "text/plain" });
      res.end("slurm-cluster Slurm exporter: see /metrics\n");
      return;
    }
    try {
      await refreshOnce();
      res.writeHead(200, { "Content-Type": exporter.registry.contentType });
      res.end(await exporter.registry.metrics());
    } catch (err) {
      res.writeHead(500, { "Content-Type": "text/plain" });
      res.end(`${(err as Error).message}\n`);
    }
  })
  .listen(port, () => console.error(`[slurm-exporter] listening on :${port}`));

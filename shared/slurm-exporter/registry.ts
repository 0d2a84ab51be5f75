// The exporter's prom-client registry: one gauge per metric family, refilled from a scrape's
// samples (old label sets are dropped, so a node that changed status does not linger).
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { FAMILIES, Sample } from "./metrics";

export interface ExporterRegistry {
  registry: Registry;
  /** Replaces every family's values with this scrape's samples. */
  update(samples: Sample[]): void;
  /** Records how one Slurm command went in this scrape. */
  command(name: string, ok: boolean, seconds: number): void;
}

/**
 * `omit`: families another source provides (slurmctld's own metrics on Slurm 26.05): they are
 * neither registered nor served, and their samples are dropped.
 */
export function createExporterRegistry(options: { processMetrics: boolean; omit?: ReadonlySet<string> }): ExporterRegistry {
  const registry = new Registry();
  const omit = options.omit ?? new Set<string>();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  const gauges = new Map(
    FAMILIES.filter((f) => !omit.has(f.name)).map((f) => [f.name, new Gauge({ name: f.name, help: f.help, labelNames: f.labels, registers: [registry] })]),
  );
  const commandSeconds = new Gauge({
    name: "slurm_exporter_command_duration_seconds",
    help: "How long each Slurm command took in the last scrape",
    labelNames: ["command"],
    registers: [registry],
  });
  const commandSuccess = new Gauge({
    name: "slurm_exporter_command_success",
    help: "1 if the Slurm command answered in the last scrape, else 0",
    labelNames: ["command"],
    registers: [registry],
  });
  return {
    registry,
    update(samples) {
      for (const gauge of gauges.values()) gauge.reset();
      for (const s of samples) {
        if (omit.has(s.name)) continue;
        const gauge = gauges.get(s.name);
        if (!gauge) throw new Error(`sample for unknown family ${s.name}`);
        gauge.set(s.labels, s.value);
      }
    },
    command(name, ok, seconds) {
      commandSuccess.set({ command: name }, ok ? 1 : 0);
      commandSeconds.set({ command: name }, seconds);
    },
  };
}

/** Names of the exporter's own families (besides FAMILIES). */
export const EXPORTER_OWN_FAMILIES = ["slurm_exporter_command_duration_seconds", "slurm_exporter_command_success"];

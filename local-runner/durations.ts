// Docker's duration strings, as the Engine API and the docker provider read them.

/** Docker durations ("2s", "1m30s", "500ms") to nanoseconds, as the Engine API wants. */
export function durationNs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const units: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/g;
  let matched = "";
  for (let m = re.exec(value); m; m = re.exec(value)) {
    total += Number(m[1]) * units[m[2]];
    matched += m[0];
  }
  if (matched !== value) throw new Error(`local runner: cannot read duration "${value}"`);
  return Math.round(total);
}

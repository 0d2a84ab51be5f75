/**
 * Slurm hostlist expression for names that share a prefix and end in numbers 1..n,
 * e.g. ["worker1","worker2","worker3"] -> "worker[1-3]" (a single name stays as it is).
 */
export function hostlist(names: string[]): string {
  if (names.length === 1) return names[0];
  const match = names.map((n) => /^(.*?)(\d+)$/.exec(n));
  const prefix = match[0]?.[1];
  const numbers = match.map((m) => (m && m[1] === prefix ? Number(m[2]) : NaN));
  const consecutive = numbers.every((n, i) => n === numbers[0] + i);
  if (prefix === undefined || !consecutive) return names.join(",");
  return `${prefix}[${numbers[0]}-${numbers[numbers.length - 1]}]`;
}

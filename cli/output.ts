// How the CLI prints: tables for people (cli-table3), JSON for scripts (--json, on stdout only),
// and progress on stderr: a spinner (nanospinner) on a terminal, nothing when stderr is not one,
// so piped and scripted use stays quiet.
import Table from "cli-table3";
import { createSpinner } from "nanospinner";

/** A table; `widths` (columns, optional) wraps long cells at word boundaries. */
export function table(head: string[], rows: (string | number)[][], widths?: number[]): string {
  const t = new Table({ head, style: { head: [], border: [] }, ...(widths ? { colWidths: widths, wordWrap: true } : {}) });
  t.push(...rows.map((r) => r.map(String)));
  return t.toString();
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

interface Progress {
  /** The current step (replaces the spinner's text). */
  update(text: string): void;
  /** A line worth keeping (a job's state change): printed above the spinner. */
  note(text: string): void;
  stop(): void;
}

/** Progress on stderr when it is a terminal; silent otherwise. */
function progress(initial: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update() {}, note() {}, stop() {} };
  const spinner = createSpinner(initial, { stream }).start();
  return {
    update: (text) => spinner.update({ text }),
    note: (text) => {
      spinner.clear();
      stream.write(`${text}\n`);
      spinner.render();
    },
    stop: () => spinner.stop(),
  };
}

/** Runs `work` with progress shown (on a terminal) until it settles. */
export async function withProgress<T>(initial: string, work: (p: Progress) => Promise<T>): Promise<T> {
  const p = progress(initial);
  try {
    return await work(p);
  } finally {
    p.stop();
  }
}

// Waiting for an event by asking until it has happened, never by sleeping a fixed time: one poller
// for the CLI (backup, restore), the benchmark and the end-to-end tests. It imports nothing, so the
// CLI's lazily loaded commands stay cheap to load.

interface PollOptions {
  /** How long to wait between two checks. */
  intervalMs?: number;
  /** The clock the time limit is counted on (the wall clock unless a test gives its own). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** The event did not happen in time; the message names it, the limit and the check's last error. */
export class PollTimeout extends Error {}

/**
 * Calls `check` (sync or async) until it returns a value other than undefined, and resolves to that
 * value. A check that throws counts as not yet; after `seconds` the wait fails with PollTimeout,
 * whose message gives the check's last error, if any.
 */
export async function poll<T>(what: string, seconds: number, check: () => T | undefined | Promise<T | undefined>, options: PollOptions = {}): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + seconds * 1000;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (now() > deadline) {
      const why = lastError === undefined ? "" : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
      throw new PollTimeout(`${what}: not reached within ${seconds}s${why}`);
    }
    await sleep(options.intervalMs ?? 500);
  }
}

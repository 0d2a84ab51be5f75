// The Pulumi SDK records a stack trace on every promise it makes (runtime/debuggable.js:
// `new Error().stack`, kept only to name leaked promises when the program exits). Under ts-node
// each such trace goes through source-map-support, which maps every frame: on a 64-worker stack
// that was 3 s of a 7-s `up` that changed nothing. While the program runs, those traces are
// formatted as V8 does without source maps, and only when printed; every other error keeps its
// mapped trace.

const PULUMI_PROMISE_TRACE = /[\\/]@pulumi[\\/]pulumi[\\/]runtime[\\/]debuggable\.js$/;

type PrepareStackTrace = (error: Error, frames: NodeJS.CallSite[]) => unknown;

/** V8's own format: the error's first line, then one "    at <frame>" line a frame. */
function plainTrace(error: Error, frames: NodeJS.CallSite[]): string {
  return [String(error), ...frames.map((f) => `    at ${f}`)].join("\n");
}

/**
 * A promise's trace, formatted only if it is ever printed (the SDK reads it only to report a leaked
 * promise, through a template string): an object whose toString gives the plain trace.
 */
function lazyTrace(error: Error, frames: NodeJS.CallSite[]): { toString(): string } {
  const head = String(error);
  let text: string | undefined;
  return { toString: () => (text ??= plainTrace({ toString: () => head } as Error, frames)) };
}

/** Runs `work` with the Pulumi SDK's promise traces left unmapped; restores the formatter after. */
export async function withPlainPulumiPromiseTraces<T>(work: () => Promise<T>): Promise<T> {
  const mapped = Error.prepareStackTrace as PrepareStackTrace | undefined;
  const formatter: PrepareStackTrace = (error, frames) =>
    frames.length > 0 && PULUMI_PROMISE_TRACE.test(frames[0].getFileName() ?? "")
      ? lazyTrace(error, frames)
      : mapped
        ? mapped(error, frames)
        : plainTrace(error, frames);
  Error.prepareStackTrace = formatter;
  try {
    return await work();
  } finally {
    // Only if nothing replaced it meanwhile (another formatter installed later stays).
    if (Error.prepareStackTrace === formatter) (Error as { prepareStackTrace?: PrepareStackTrace }).prepareStackTrace = mapped;
  }
}

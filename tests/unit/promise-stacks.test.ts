// The runner leaves the Pulumi SDK's per-promise traces unmapped (and unformatted until printed);
// every other error still goes through the formatter installed before (source maps under ts-node).
import { withPlainPulumiPromiseTraces } from "../../local-runner/promise-stacks";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { debuggablePromise } = require("@pulumi/pulumi/runtime/debuggable") as { debuggablePromise<T>(p: Promise<T>, ctx: unknown): Promise<T> };

type Formatter = (error: Error, frames: NodeJS.CallSite[]) => unknown;

describe("the Pulumi SDK's promise traces while the program runs", () => {
  const original = Error.prepareStackTrace;
  let mappedCalls: string[];
  beforeEach(() => {
    mappedCalls = [];
    // Stands in for source-map-support's formatter: records what it was asked to format.
    Error.prepareStackTrace = ((error: Error, frames: NodeJS.CallSite[]) => {
      mappedCalls.push(String(frames[0]?.getFileName()));
      return `mapped: ${error.message}`;
    }) as Formatter;
  });
  afterEach(() => {
    Error.prepareStackTrace = original;
  });

  it("are not given to the source-map formatter, and still print as a trace naming the SDK's file", async () => {
    const trace = await withPlainPulumiPromiseTraces(async () => {
      // The SDK marks the promise it is given, and hands back one chained to it.
      const p = Promise.resolve(1);
      await debuggablePromise(p, "test");
      return (p as unknown as { _debugStackTrace: unknown })._debugStackTrace;
    });
    expect(mappedCalls.filter((f) => f.includes("debuggable"))).toEqual([]);
    expect(`${trace}`).toMatch(/^Error\n    at debuggablePromise \(.*[\\/]@pulumi[\\/]pulumi[\\/]runtime[\\/]debuggable\.js:\d+:\d+\)/);
  });

  it("leave every other error to the formatter installed before, and put it back after", async () => {
    const stack = await withPlainPulumiPromiseTraces(async () => new Error("from the program").stack);
    expect(stack).toBe("mapped: from the program");
    expect(mappedCalls.length).toBe(1);
    const after = Promise.resolve(1);
    await debuggablePromise(after, "after");
    expect((after as unknown as { _debugStackTrace: unknown })._debugStackTrace).toBe("mapped: ");
  });
});

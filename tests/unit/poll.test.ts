// The one poller the CLI, the benchmark and the e2e tests wait with, on a clock of the test's own:
// nothing here races the machine's speed.
import { PollTimeout, poll } from "../../cli/poll";

function virtualClock() {
  let t = 0;
  const waits: number[] = [];
  return {
    waits,
    now: () => t,
    sleep: async (ms: number) => {
      waits.push(ms);
      t += ms;
    },
  };
}

describe("poll", () => {
  it("resolves to the first value a check returns, sync or async, counting a throw as not yet", async () => {
    const clock = virtualClock();
    const answers: (() => number | undefined)[] = [() => undefined, () => { throw new Error("not up"); }, () => 42];
    let call = 0;
    await expect(poll("answer", 10, async () => answers[call++](), { ...clock, intervalMs: 250 })).resolves.toBe(42);
    expect(clock.waits).toEqual([250, 250]);
  });

  it("returns a falsy value other than undefined (false, 0, empty text)", async () => {
    await expect(poll("zero", 1, () => 0, virtualClock())).resolves.toBe(0);
    await expect(poll("empty", 1, () => "", virtualClock())).resolves.toBe("");
  });

  it("gives up after its time, naming the event, the limit and the check's last error", async () => {
    const clock = virtualClock();
    let calls = 0;
    const waiting = poll("slurmctld answering", 3, () => {
      calls++;
      throw new Error("Connection refused");
    }, { ...clock, intervalMs: 1000 });
    await expect(waiting).rejects.toThrow(PollTimeout);
    await expect(waiting).rejects.toThrow("slurmctld answering: not reached within 3s (last error: Connection refused)");
    expect(calls).toBe(5); // at 0, 1, 2, 3 and 4 s: the check past the limit is the last
  });
});

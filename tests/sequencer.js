// Jest's own order (slowest or largest file first), except that the e2e suite spanning machines
// runs last: its arm64 images take minutes under emulation, and .ci/run builds them on the qnap
// host in the background meanwhile (a warm build cache; the suite's `up` still builds every image
// itself). Without that warm-up the order changes nothing but which suite a failure shows first.
/* eslint-disable @typescript-eslint/no-require-imports */
const Sequencer = require("@jest/test-sequencer").default;

const LAST = ["several-machines.test.ts"];

class LastSuitesLast extends Sequencer {
  sort(tests) {
    const sorted = super.sort(tests);
    const rank = (test) => LAST.findIndex((name) => test.path.endsWith(`/${name}`));
    return [...sorted.filter((t) => rank(t) < 0), ...sorted.filter((t) => rank(t) >= 0).sort((a, b) => rank(a) - rank(b))];
  }
}

module.exports = LastSuitesLast;

// Prints one plain closing line per jest run, "N passed, N failed", so CI logs can be read at a glance.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    console.log(`jest: ${results.numPassedTests} passed, ${results.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ""}`);
  }
}
module.exports = SummaryReporter;

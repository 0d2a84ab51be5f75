// A test's first program run also type-checks the whole program (ts-jest): on a loaded 2-core
// machine that alone passed jest's 5 s default, and the timed-out run then disturbed the tests after it.
jest.setTimeout(60_000);

/**
 * A failure the CLI reports as one line on stderr, with the exit code it ends with: 1 when what was
 * asked failed (a check, a job, a missing stack), 2 when the command line itself is wrong.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
  }
}

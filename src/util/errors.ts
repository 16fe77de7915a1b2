/**
 * Every error labctl shows a user carries its exit code: 2 for bad input or a failed
 * preflight (nothing was changed), 1 for an operation that started and failed.
 */
export class LabctlError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
    readonly details: string[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad flags, unknown machine names, missing files: the user's input is wrong. */
export class UsageError extends LabctlError {
  constructor(message: string, details: string[] = []) {
    super(message, 2, details);
  }
}

/** The host cannot run this provider; the message says what to install or change. */
export class PreflightError extends LabctlError {
  constructor(message: string, details: string[] = []) {
    super(message, 2, details);
  }
}

/** A spec file has problems; each problem is one `FILE:field: what is wrong` line. */
export class SpecError extends LabctlError {
  constructor(readonly problems: string[]) {
    super(problems[0] ?? 'invalid spec', 2, problems.slice(1));
  }
}

/** Work that was started and did not finish. The lab stays resumable. */
export class OperationError extends LabctlError {
  constructor(message: string, details: string[] = []) {
    super(message, 1, details);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

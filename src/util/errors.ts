/**
 * The stable codes of `--json` errors (listed in the README): scripts branch on these, not on
 * the wording of the message.
 */
export type ErrorCode =
  | 'USAGE'
  | 'SPEC_INVALID'
  | 'PREFLIGHT_FAILED'
  | 'LAB_NOT_CREATED'
  | 'LAB_BUSY'
  | 'MACHINE_UNKNOWN'
  | 'OPERATION_FAILED'
  | 'STEP_FAILED'
  | 'VERIFY_FAILED'
  | 'LAB_STOPPED'
  | 'INTERRUPTED'
  | 'INTERNAL';

/**
 * Every error labctl shows a user carries its exit code: 2 for bad input or a failed
 * preflight (nothing was changed), 1 for an operation that started and failed, 128 + the
 * signal's number for a command interrupted by SIGHUP, SIGINT or SIGTERM.
 */
export class LabctlError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 | 129 | 130 | 143,
    readonly details: string[] = [],
    readonly code: ErrorCode = exitCode === 2 ? 'USAGE' : 'OPERATION_FAILED',
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad flags, unknown machine names, missing files: the user's input is wrong. */
export class UsageError extends LabctlError {
  constructor(message: string, details: string[] = [], code: ErrorCode = 'USAGE') {
    super(message, 2, details, code);
  }
}

/** The lab has no state yet: the command needs `labctl create` (or `up`) first. */
export class LabNotCreatedError extends UsageError {
  constructor(message: string) {
    super(message, [], 'LAB_NOT_CREATED');
  }
}

/** A machine name that is not in the spec. */
export class UnknownMachineError extends UsageError {
  constructor(name: string, lab: string, machines: string[]) {
    super(`no machine named "${name}" in lab ${lab} (machines: ${machines.join(', ')})`, [], 'MACHINE_UNKNOWN');
  }
}

/** The host cannot run this provider; the message says what to install or change. */
export class PreflightError extends LabctlError {
  constructor(message: string, details: string[] = []) {
    super(message, 2, details, 'PREFLIGHT_FAILED');
  }
}

/** A spec file has problems; each problem is one `FILE:field: what is wrong` line. */
export class SpecError extends LabctlError {
  constructor(readonly problems: string[]) {
    super(problems[0] ?? 'invalid spec', 2, problems.slice(1), 'SPEC_INVALID');
  }
}

/** Work that was started and did not finish. The lab stays resumable. */
export class OperationError extends LabctlError {
  constructor(message: string, details: string[] = [], code: ErrorCode = 'OPERATION_FAILED') {
    super(message, 1, details, code);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

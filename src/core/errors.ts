/**
 * Errors a user can cause carry a stable `code` (so tests, logs and clients can match on it without
 * parsing prose), an HTTP status for the web routes, and an exit code for the CLI. Anything that is not
 * an AppError is a bug or an outage: it is logged with ids and shown to users as a plain message.
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly exitCode: number;

  constructor(
    code: string,
    message: string,
    options: { status?: number; exitCode?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = options.status ?? 400;
    this.exitCode = options.exitCode ?? 2;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/** A thing named by the user does not exist (unknown list slug, issue id, file). */
export function notFound(code: string, message: string): AppError {
  return new AppError(code, message, { status: 404, exitCode: 2 });
}

/** The user's input is malformed. */
export function invalid(code: string, message: string): AppError {
  return new AppError(code, message, { status: 400, exitCode: 2 });
}

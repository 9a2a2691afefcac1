/**
 * Errors the API answers with their own status; everything else is a 500.
 * Every error goes out as JSON `{ "error": "..." }`.
 */

/** The statuses the API answers errors with. */
export type ErrorStatus = 400 | 401 | 404 | 409 | 500 | 503;

/** An error with the HTTP status to answer. */
export class ApiError extends Error {
  override name = "ApiError";
  /** HTTP status of the answer. */
  readonly status: ErrorStatus;

  constructor(status: ErrorStatus, message: string) {
    super(message);
    this.status = status;
  }
}

/** A query parameter that is malformed or out of range (400); the message says which and why. */
export class BadParameterError extends ApiError {
  override name = "BadParameterError";
  /** The parameter at fault. */
  readonly parameter: string;

  constructor(parameter: string, message: string) {
    super(400, `Bad parameter ${parameter}: ${message}`);
    this.parameter = parameter;
  }
}

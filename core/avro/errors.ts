/**
 * The one error type every decoder throws for bad input. The archive
 * quarantines the offending message with `reason` and carries on.
 */

/** A message could not be decoded; `reason` says why in one sentence. */
export class DecodeError extends Error {
  /** Short human-readable cause, stored with the quarantined message. */
  readonly reason: string;

  /** Creates a decode error whose message is `reason`. */
  constructor(reason: string, options?: ErrorOptions) {
    super(reason, options);
    this.name = "DecodeError";
    this.reason = reason;
  }
}

/** Returns the error as a {@link DecodeError}, wrapping anything else with `context`. */
export function asDecodeError(error: unknown, context: string): DecodeError {
  if (error instanceof DecodeError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new DecodeError(`${context}: ${detail}`, { cause: error });
}

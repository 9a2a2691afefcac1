/**
 * Typed storage errors shared by every backend, so callers (the archive, the
 * retrying decorator) decide on the error's kind, never on its message text.
 */

/**
 * What went wrong, independent of the backend:
 * - `not-found`: the path does not exist
 * - `already-exists`: something is in the way (a directory where a file goes, a file where a directory goes)
 * - `permission`: the backend refused access (EACCES, EPERM, HTTP 403, AccessControlException)
 * - `read-only`: the filesystem is mounted read-only (EROFS)
 * - `invalid`: the request itself is wrong (bad path, not a directory, directory not empty)
 * - `no-space`: disk full or quota exceeded (local ENOSPC/EDQUOT, HDFS DSQuotaExceededException)
 * - `unavailable`: the backend could not be reached or failed internally (network error,
 *   timeout, HTTP 5xx, local EIO)
 * - `other`: anything else the backend reported
 */
export type StorageErrorKind =
  | "not-found"
  | "already-exists"
  | "permission"
  | "read-only"
  | "invalid"
  | "no-space"
  | "unavailable"
  | "other";

/** Details attached to a {@link StorageError}. */
export interface StorageErrorOptions {
  /** The storage operation (`writeFile`, `rename`, …) or protocol operation (`CREATE`, …). */
  op: string;
  /** The path the operation was about: storage-relative locally, the absolute HDFS path on WebHDFS. */
  path: string;
  /** HTTP status, for remote backends. */
  status?: number;
  /** Backend exception name, e.g. `FileNotFoundException` or `ENOSPC`. */
  exception?: string;
  /** The underlying error. */
  cause?: unknown;
}

const TRANSIENT_KINDS: ReadonlySet<StorageErrorKind> = new Set(["no-space", "unavailable"]);

/** A failed storage operation; `kind` says what went wrong, `transient` whether retrying may help. */
export class StorageError extends Error {
  /** What went wrong. */
  readonly kind: StorageErrorKind;
  /** The operation that failed. */
  readonly op: string;
  /** The path the operation was about. */
  readonly path: string;
  /** HTTP status, for remote backends. */
  readonly status?: number;
  /** Backend exception name or errno code. */
  readonly exception?: string;

  /** Builds an error of the given kind; `message` should say what was expected and found. */
  constructor(kind: StorageErrorKind, message: string, options: StorageErrorOptions) {
    super(message, { cause: options.cause });
    this.name = "StorageError";
    this.kind = kind;
    this.op = options.op;
    this.path = options.path;
    this.status = options.status;
    this.exception = options.exception;
  }

  /** True when the failure may go away by itself (full disk freed, server back up). */
  get transient(): boolean {
    return TRANSIENT_KINDS.has(this.kind);
  }
}

/** The path does not exist (`readFile` of a missing file, `rename` of a missing source). */
export class StorageNotFoundError extends StorageError {
  /** Builds a not-found error for `options.path`. */
  constructor(message: string, options: StorageErrorOptions) {
    super("not-found", message, options);
    this.name = "StorageNotFoundError";
  }
}

/** True when `error` is a storage failure that retrying may fix (no space, backend unavailable). */
export function isTransientStorageError(error: unknown): boolean {
  return error instanceof StorageError && error.transient;
}

const CLEARABLE_KINDS: ReadonlySet<StorageErrorKind> = new Set([
  ...TRANSIENT_KINDS,
  "permission",
  "read-only",
]);

/**
 * True when `error` is a storage failure an operator can clear while the writer waits: the
 * transient ones plus a refused permission or a read-only mount (fixed by `chmod`, `chown`,
 * a remount or an HDFS ACL). A long-running writer that must lose nothing retries these for
 * as long as they last.
 */
export function isClearableStorageError(error: unknown): boolean {
  return error instanceof StorageError && CLEARABLE_KINDS.has(error.kind);
}

/**
 * One line of at most `max` characters: the first line of `text` (Hadoop puts the Java stack
 * trace after it), whitespace collapsed, HTML tags dropped.
 */
export function oneLine(text: string, max = 300): string {
  const first = text.replace(/<[^>]*>/g, " ").split(/\r?\n/).map((l) => l.trim())
    .find((l) => l !== "") ?? "";
  const line = first.replace(/\s+/g, " ");
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * Turns failed WebHDFS answers (Hadoop's `{"RemoteException":{…}}` bodies, bare HTTP
 * errors, network failures) into {@link StorageError}s naming the operation, the HDFS
 * path and the Java exception.
 */
import { oneLine, StorageError, type StorageErrorKind, StorageNotFoundError } from "./errors.ts";

/** Where a WebHDFS failure happened, for the error message. */
export interface WebHdfsErrorContext {
  /** The WebHDFS operation (`CREATE`, `OPEN`, `RENAME`, …). */
  op: string;
  /** The absolute HDFS path the operation was about. */
  hdfsPath: string;
  /** The URL that was requested, without credentials. */
  url: string;
}

/** Hadoop's JSON error body, as documented for every WebHDFS operation. */
export interface RemoteException {
  exception: string;
  javaClassName?: string;
  message: string;
}

const EXCEPTION_KINDS: Record<string, StorageErrorKind> = {
  FileNotFoundException: "not-found",
  FileAlreadyExistsException: "already-exists",
  ParentNotDirectoryException: "already-exists",
  AccessControlException: "permission",
  SecurityException: "permission",
  AuthenticationException: "permission",
  IllegalArgumentException: "invalid",
  HadoopIllegalArgumentException: "invalid",
  UnsupportedOperationException: "invalid",
  InvalidPathException: "invalid",
  PathIsNotEmptyDirectoryException: "invalid",
  DSQuotaExceededException: "no-space",
  NSQuotaExceededException: "no-space",
  QuotaExceededException: "no-space",
  RetriableException: "unavailable",
  StandbyException: "unavailable",
  SafeModeException: "unavailable",
  ConnectException: "unavailable",
  SocketTimeoutException: "unavailable",
};

const HINTS: Partial<Record<StorageErrorKind, string>> = {
  "no-space": "free space on HDFS or raise the directory quota, then retry",
  "unavailable": "check that the namenode and datanodes are up, then retry",
  "permission": "check the HDFS user (user.name) and the directory's owner and permissions",
};

/** Reads a `RemoteException` out of an error body, or null when the body is not one. */
export function parseRemoteException(body: string): RemoteException | null {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return null;
  }
  const remote = (json as { RemoteException?: unknown } | null)?.RemoteException;
  if (!remote || typeof remote !== "object") return null;
  const { exception, javaClassName, message } = remote as Record<string, unknown>;
  if (typeof exception !== "string") return null;
  return {
    exception,
    javaClassName: typeof javaClassName === "string" ? javaClassName : undefined,
    message: typeof message === "string" ? message : "",
  };
}

function kindFor(exception: string | undefined, status: number): StorageErrorKind {
  const simple = exception?.slice(exception.lastIndexOf(".") + 1);
  const known = simple ? EXCEPTION_KINDS[simple] : undefined;
  if (known) return known;
  if (status >= 500 || status === 429 || status === 408) return "unavailable";
  if (status === 401 || status === 403) return "permission";
  return "other";
}

function build(
  kind: StorageErrorKind,
  message: string,
  context: WebHdfsErrorContext,
  extra: { status?: number; exception?: string; cause?: unknown },
): StorageError {
  const hint = HINTS[kind];
  const full = hint ? `${message}; ${hint}` : message;
  const options = { op: context.op, path: context.hdfsPath, ...extra };
  return kind === "not-found"
    ? new StorageNotFoundError(full, options)
    : new StorageError(kind, full, options);
}

/** The error for an HTTP answer with an unexpected status; `body` is its text. */
export function httpError(
  status: number,
  body: string,
  context: WebHdfsErrorContext,
): StorageError {
  const remote = parseRemoteException(body);
  const where = `WebHDFS ${context.op} of "${context.hdfsPath}"`;
  if (remote) {
    const kind = kindFor(remote.exception, status);
    const name = remote.javaClassName ?? remote.exception;
    return build(
      kind,
      `${where} failed with HTTP ${status} ${name}: ${oneLine(remote.message) || "no message"}`,
      context,
      { status, exception: remote.exception },
    );
  }
  const snippet = oneLine(body, 200) || "empty body";
  const kind = kindFor(undefined, status);
  return build(
    kind,
    `${where} failed with HTTP ${status} and no Hadoop RemoteException in the answer (${snippet}); ` +
      `check that ${new URL(context.url).origin} is a WebHDFS endpoint`,
    context,
    { status },
  );
}

/** The error for a request that got no answer: connection refused, reset, DNS, timeout. */
export function networkError(error: unknown, context: WebHdfsErrorContext): StorageError {
  const detail = oneLine(error instanceof Error ? error.message : String(error));
  return build(
    "unavailable",
    `WebHDFS ${context.op} of "${context.hdfsPath}" got no answer from ${
      new URL(context.url).origin
    }: ${detail}`,
    context,
    { exception: error instanceof Error ? error.name : undefined, cause: error },
  );
}

/** The error for an answer that has a success status but not the documented shape. */
export function protocolError(
  expected: string,
  found: string,
  context: WebHdfsErrorContext,
): StorageError {
  return build(
    "other",
    `WebHDFS ${context.op} of "${context.hdfsPath}" answered unexpectedly: expected ${expected}, found ${found}`,
    context,
    {},
  );
}

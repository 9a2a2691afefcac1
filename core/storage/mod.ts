/**
 * Entry point of the storage layer: {@link openStorage} turns the configured archive
 * root (a local path or a `webhdfs://` URL) into a {@link Storage}.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { StorageError } from "./errors.ts";
import { type IoEvent, LocalStorage } from "./local.ts";
import { RetryingStorage, type RetryOptions } from "./retrying.ts";
import type { Storage } from "./storage.ts";
import { WebHdfsStorage } from "./webhdfs.ts";

export type { Entry, RemoveOptions, RenameOptions, Storage, Usage } from "./storage.ts";
export {
  isClearableStorageError,
  isTransientStorageError,
  oneLine,
  StorageError,
  type StorageErrorKind,
  StorageNotFoundError,
} from "./errors.ts";
export { type IoEvent, type IoOp, LocalStorage, type LocalStorageOptions } from "./local.ts";
export { type WebHdfsOptions, WebHdfsStorage } from "./webhdfs.ts";
export {
  backoffDelay,
  type RecoveredInfo,
  type RetryInfo,
  RetryingStorage,
  type RetryOptions,
} from "./retrying.ts";

/** Options of {@link openStorage}. */
export interface OpenStorageOptions {
  /** Directory relative local roots are resolved against (default: the current directory). */
  cwd?: string;
  /** HDFS user (`user.name`) when the URL has no `?user=`. */
  user?: string;
  /** WebHDFS: use `noredirect=true` (see {@link WebHdfsOptions.noRedirect}). */
  noRedirect?: boolean;
  /** WebHDFS: limit per HTTP request in ms. */
  timeoutMs?: number;
  /** WebHDFS: the fetch to use. */
  fetch?: typeof fetch;
  /** When given, the storage is wrapped in a {@link RetryingStorage} with these options. */
  retry?: RetryOptions;
  /** Local disk: told about every write, fsync and rename with its duration (see {@link IoEvent}). */
  onIo?: (event: IoEvent) => void;
}

const EXPECTED = "expected a local directory (absolute or relative path), file:///abs/dir, " +
  "or webhdfs://host:port/abs/path[?user=name] (swebhdfs:// for HTTPS)";

const DEFAULT_PORTS: Record<string, string> = { "webhdfs:": "9870", "swebhdfs:": "9871" };

function invalid(root: string, problem: string): StorageError {
  return new StorageError("invalid", `Invalid storage root "${root}": ${problem}; ${EXPECTED}`, {
    op: "openStorage",
    path: root,
  });
}

function openWebHdfs(root: string, options: OpenStorageOptions): WebHdfsStorage {
  let url: URL;
  try {
    url = new URL(root);
  } catch {
    throw invalid(root, "not a valid URL");
  }
  if (url.hostname === "") throw invalid(root, "the namenode host is missing");
  if (url.username || url.password) {
    throw invalid(root, "credentials in the URL are not supported, use ?user=name");
  }
  if (url.hash) throw invalid(root, `unexpected fragment "${url.hash}"`);
  const unknown = [...url.searchParams.keys()].filter((key) => key !== "user");
  if (unknown.length > 0) {
    throw invalid(
      root,
      `unknown query parameter(s) ${unknown.join(", ")}, only "user" is accepted`,
    );
  }
  const user = url.searchParams.get("user") ?? options.user;
  if (user === "") throw invalid(root, "?user= is empty");
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    throw invalid(root, "the path is not valid percent-encoding");
  }
  const http = url.protocol === "swebhdfs:" ? "https" : "http";
  const port = url.port || DEFAULT_PORTS[url.protocol];
  return new WebHdfsStorage({
    endpoint: `${http}://${url.hostname}:${port}`,
    root: path === "" ? "/" : path,
    user,
    noRedirect: options.noRedirect,
    timeoutMs: options.timeoutMs,
    fetch: options.fetch,
  });
}

function openBackend(root: string, options: OpenStorageOptions): Storage {
  if (typeof root !== "string" || root.trim() === "") {
    throw invalid(String(root), "it is empty");
  }
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(root)?.[1]?.toLowerCase();
  const local = { onIo: options.onIo };
  if (scheme === undefined) {
    return new LocalStorage(resolve(options.cwd ?? Deno.cwd(), root), local);
  }
  if (scheme === "webhdfs" || scheme === "swebhdfs") return openWebHdfs(root, options);
  if (scheme === "file") {
    try {
      return new LocalStorage(fileURLToPath(root), local);
    } catch (error) {
      throw invalid(root, `not a usable file URL (${(error as Error).message})`);
    }
  }
  if (scheme === "hdfs") {
    throw invalid(root, "hdfs:// (the RPC port) is not spoken here, use the namenode's HTTP port");
  }
  throw invalid(root, `unsupported scheme "${scheme}://"`);
}

/**
 * Opens the storage for `root`: a local path (relative paths are resolved against
 * `options.cwd`), a `file://` URL, or `webhdfs://host[:port]/path[?user=name]` (port 9870
 * by default; `swebhdfs://` for HTTPS, port 9871). Nothing is touched until the first
 * operation. Throws a `StorageError` of kind `invalid` naming the value and the accepted
 * forms when `root` is none of those.
 */
export function openStorage(root: string, options: OpenStorageOptions = {}): Storage {
  const storage = openBackend(root, options);
  return options.retry ? new RetryingStorage(storage, options.retry) : storage;
}

/**
 * A Storage decorator that retries transient failures (disk full, quota exceeded,
 * backend unreachable, HTTP 5xx, EIO) with exponential backoff and jitter, and tells
 * the caller about every retry and every recovery so the archive can log and report it.
 * Not-found, permission and validation errors are passed through at once.
 */
import { isTransientStorageError, StorageError } from "./errors.ts";
import type {
  Entry,
  FileData,
  RemoveOptions,
  RenameOptions,
  Storage,
  SyncOptions,
  Usage,
} from "./storage.ts";

/** What `onRetry` is told before each wait. */
export interface RetryInfo {
  /** The Storage method (`writeFile`, `rename`, …). */
  op: string;
  /** The path it was called with (`from -> to` for rename). */
  path: string;
  /** Which attempt just failed, from 1. */
  attempt: number;
  /** Why it failed. */
  error: unknown;
  /** How long the decorator waits before the next attempt. */
  delayMs: number;
}

/** What `onRecovered` is told when an operation succeeds after failures. */
export interface RecoveredInfo {
  /** The Storage method. */
  op: string;
  /** The path it was called with. */
  path: string;
  /** How many attempts it took, including the successful one (at least 2). */
  attempts: number;
  /** Sum of the waits between attempts. */
  waitedMs: number;
}

/** Backoff parameters. */
export interface BackoffOptions {
  /** First wait, in ms (default 200). */
  baseDelayMs?: number;
  /** Longest wait, in ms (default 30000). */
  maxDelayMs?: number;
}

/** How the decorator retries. */
export interface RetryOptions extends BackoffOptions {
  /**
   * Attempts in total, first one included (default 5). `Infinity` keeps trying until the
   * operation succeeds or `signal` aborts: nothing is lost while the backend is down.
   */
  maxAttempts?: number;
  /** Which errors to retry (default: {@link isTransientStorageError}). */
  isTransient?: (error: unknown) => boolean;
  /** Called before each wait. */
  onRetry?: (info: RetryInfo) => void;
  /** Called when an operation succeeds after at least one failure. */
  onRecovered?: (info: RecoveredInfo) => void;
  /** Waits `ms`, returning early when `signal` aborts; injectable so tests need no real time. */
  delay?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Source of jitter in [0, 1) (default Math.random). */
  random?: () => number;
  /** Stops retrying (the last error is thrown) when aborted, e.g. on shutdown. */
  signal?: AbortSignal;
}

/**
 * The wait after failed attempt `attempt` (from 1): "equal jitter" over an exponential
 * cap, i.e. uniformly in [cap/2, cap] with cap = min(maxDelayMs, baseDelayMs * 2^(attempt-1)).
 * Half the wait is fixed so it always grows; the random half keeps many writers from
 * hammering a recovering namenode in lockstep.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const base = options.baseDelayMs ?? 200;
  const max = options.maxDelayMs ?? 30_000;
  const cap = Math.min(max, base * 2 ** (attempt - 1));
  return Math.round(cap / 2 + random() * (cap / 2));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

function checkOptions(options: RetryOptions): void {
  const { baseDelayMs = 200, maxDelayMs = 30_000, maxAttempts = 5 } = options;
  const problems: string[] = [];
  if (!(baseDelayMs > 0)) problems.push(`baseDelayMs must be > 0, found ${baseDelayMs}`);
  if (!(maxDelayMs >= baseDelayMs)) {
    problems.push(`maxDelayMs must be >= baseDelayMs (${baseDelayMs}), found ${maxDelayMs}`);
  }
  if (!(maxAttempts === Infinity || (Number.isInteger(maxAttempts) && maxAttempts >= 1))) {
    problems.push(`maxAttempts must be an integer >= 1 or Infinity, found ${maxAttempts}`);
  }
  if (problems.length > 0) {
    throw new RangeError(`Invalid retry options: ${problems.join("; ")}`);
  }
}

/** Wraps a Storage so transient failures are retried; every method keeps its contract. */
export class RetryingStorage implements Storage {
  /** The wrapped storage's location. */
  readonly location: string;
  readonly #inner: Storage;
  readonly #options: RetryOptions;

  /** Wraps `inner`; throws a RangeError naming every bad option. */
  constructor(inner: Storage, options: RetryOptions = {}) {
    checkOptions(options);
    this.#inner = inner;
    this.#options = options;
    this.location = inner.location;
  }

  #notify<T>(callback: ((info: T) => void) | undefined, info: T): void {
    try {
      callback?.(info);
    } catch (error) {
      // A broken status reporter must not turn a successful write into a failure.
      console.error(JSON.stringify({
        component: "storage.retrying",
        level: "error",
        msg: "retry callback threw",
        error: String(error),
      }));
    }
  }

  async #run<T>(op: string, path: string, attempt: () => Promise<T>): Promise<T> {
    const {
      maxAttempts = 5,
      isTransient = isTransientStorageError,
      delay = sleep,
      random = Math.random,
      signal,
    } = this.#options;
    let waitedMs = 0;
    for (let n = 1;; n++) {
      try {
        const result = await attempt();
        if (n > 1) this.#notify(this.#options.onRecovered, { op, path, attempts: n, waitedMs });
        return result;
      } catch (error) {
        if (!isTransient(error) || n >= maxAttempts || signal?.aborted) throw error;
        const delayMs = backoffDelay(n, this.#options, random);
        this.#notify(this.#options.onRetry, { op, path, attempt: n, error, delayMs });
        await delay(delayMs, signal);
        waitedMs += delayMs;
        if (signal?.aborted) throw error;
      }
    }
  }

  /**
   * See {@link Storage.writeFile}; idempotent, so a retry after a lost answer is
   * harmless. A stream is consumed by its first attempt, so it is tried once.
   */
  writeFile(path: string, data: FileData, options?: SyncOptions): Promise<void> {
    if (data instanceof ReadableStream) return this.#inner.writeFile(path, data, options);
    return this.#run("writeFile", path, () => this.#inner.writeFile(path, data, options));
  }

  /**
   * See {@link Storage.createIfAbsent}. When an attempt's answer was lost after the backend
   * created the file, the retry finds it there: if it holds exactly `data` (which the
   * contract asks to be unique to the writer), that retry counts as the success it is.
   */
  createIfAbsent(path: string, data: Uint8Array): Promise<boolean> {
    let retried = false;
    return this.#run("createIfAbsent", path, async () => {
      const first = !retried;
      retried = true;
      if (await this.#inner.createIfAbsent(path, data)) return true;
      if (first) return false;
      const found = await this.#inner.readFile(path).catch(() => null);
      return found !== null && found.byteLength === data.byteLength &&
        found.every((byte, i) => byte === data[i]);
    });
  }

  /** See {@link Storage.readFile}. */
  readFile(path: string): Promise<Uint8Array> {
    return this.#run("readFile", path, () => this.#inner.readFile(path));
  }

  /** See {@link Storage.readRange}. */
  readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    return this.#run("readRange", path, () => this.#inner.readRange(path, offset, length));
  }

  /**
   * See {@link Storage.rename}. When an attempt's answer was lost after the backend did the
   * rename, the retry finds no source: if the destination is there and the source is not,
   * that retry counts as the success it is.
   */
  rename(from: string, to: string, options?: RenameOptions): Promise<void> {
    let retried = false;
    return this.#run("rename", `${from} -> ${to}`, async () => {
      const first = !retried;
      retried = true;
      try {
        await this.#inner.rename(from, to, options);
      } catch (error) {
        const notFound = error instanceof StorageError && error.kind === "not-found";
        if (first || !notFound) throw error;
        const [source, destination] = await Promise.all([
          this.#inner.stat(from),
          this.#inner.stat(to),
        ]);
        if (source !== null || destination === null) throw error;
      }
    });
  }

  /** See {@link Storage.remove}; idempotent (a missing path is not an error). */
  remove(path: string, options?: RemoveOptions): Promise<void> {
    return this.#run("remove", path, () => this.#inner.remove(path, options));
  }

  /** See {@link Storage.syncFolders}; idempotent. */
  syncFolders(folders: readonly string[]): Promise<void> {
    return this.#run("syncFolders", folders.join(", "), () => this.#inner.syncFolders(folders));
  }

  /** See {@link Storage.list}. */
  list(dir: string): Promise<Entry[]> {
    return this.#run("list", dir, () => this.#inner.list(dir));
  }

  /** See {@link Storage.stat}. */
  stat(path: string): Promise<Entry | null> {
    return this.#run("stat", path, () => this.#inner.stat(path));
  }

  /** See {@link Storage.mkdirs}. */
  mkdirs(path: string): Promise<void> {
    return this.#run("mkdirs", path, () => this.#inner.mkdirs(path));
  }

  /** See {@link Storage.usage}. */
  usage(dir: string): Promise<Usage> {
    return this.#run("usage", dir, () => this.#inner.usage(dir));
  }
}

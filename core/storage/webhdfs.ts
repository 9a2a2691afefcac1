/**
 * Storage on HDFS through Hadoop's WebHDFS REST API
 * (`http://<namenode>:<port>/webhdfs/v1/<PATH>?op=…&user.name=…`).
 *
 * Plain `fetch` on purpose: `npm:webhdfs` exists but is built on the deprecated
 * `request` package, and the protocol is a handful of HTTP calls.
 */
import { StorageError, StorageNotFoundError } from "./errors.ts";
import { baseName, childPath, normalizeFilePath, normalizePath } from "./path.ts";
import type { Entry, FileData, RemoveOptions, RenameOptions, Storage, Usage } from "./storage.ts";
import {
  httpError,
  networkError,
  protocolError,
  type WebHdfsErrorContext,
} from "./webhdfs_errors.ts";

/** How to reach HDFS. */
export interface WebHdfsOptions {
  /** Namenode HTTP(S) address, e.g. `http://namenode:9870`. */
  endpoint: string;
  /** Absolute HDFS directory all storage paths are relative to, e.g. `/fink/archive`. */
  root: string;
  /** Sent as `user.name` (simple authentication); without it the namenode picks its default web user. */
  user?: string;
  /**
   * Ask for `noredirect=true` on CREATE and OPEN: the namenode answers 200 with the
   * datanode `Location` in JSON instead of a 307. Useful behind proxies that rewrite redirects.
   */
  noRedirect?: boolean;
  /** Limit for each HTTP request including its body, in ms (default 120000). */
  timeoutMs?: number;
  /** The fetch to use (tests inject failures through it); defaults to the global fetch. */
  fetch?: typeof fetch;
}

/** One element of Hadoop's `FileStatuses.FileStatus` array or of `FileStatus`. */
interface FileStatus {
  pathSuffix: string;
  type: "FILE" | "DIRECTORY" | "SYMLINK";
  length: number;
  modificationTime: number;
}

/** What a request needs to know about the answer it expects. */
interface CallSpec<T> {
  method: "GET" | "PUT" | "DELETE";
  op: string;
  hdfsPath: string;
  params?: Record<string, string>;
  /** Statuses that count as success; others become errors. */
  ok: number[];
  /** Consumes the successful answer. */
  read(response: Response, context: WebHdfsErrorContext): Promise<T>;
  /** When set, a 404 resolves to this instead of failing. */
  onNotFound?: () => T;
  body?: FileData;
  /** Overrides the URL (the datanode `Location` of a two-step operation). */
  url?: string;
  redirect?: RequestRedirect;
}

const DEFAULT_TIMEOUT_MS = 120_000;

function isFileStatus(value: unknown): value is FileStatus {
  const status = value as FileStatus | null;
  return typeof status?.type === "string" && typeof status.length === "number" &&
    typeof status.pathSuffix === "string";
}

async function readJson(response: Response, context: WebHdfsErrorContext): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw protocolError("a JSON body", JSON.stringify(text.slice(0, 200)), context);
  }
}

async function readBoolean(response: Response, context: WebHdfsErrorContext): Promise<boolean> {
  const json = await readJson(response, context) as { boolean?: unknown } | null;
  if (typeof json?.boolean !== "boolean") {
    throw protocolError('{"boolean": true|false}', JSON.stringify(json), context);
  }
  return json.boolean;
}

async function discard(response: Response): Promise<void> {
  await response.body?.cancel();
}

/** Storage rooted at an HDFS directory, spoken to over WebHDFS. */
export class WebHdfsStorage implements Storage {
  /** `webhdfs://host:port/root` (`swebhdfs://` over HTTPS). */
  readonly location: string;
  readonly #endpoint: URL;
  readonly #root: string;
  readonly #user?: string;
  readonly #noRedirect: boolean;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  /** Prepares a client; nothing is contacted until the first operation. */
  constructor(options: WebHdfsOptions) {
    this.#endpoint = new URL(options.endpoint);
    const root = options.root.replace(/\/+$/, "");
    if (!options.root.startsWith("/")) {
      throw new StorageError(
        "invalid",
        `Invalid WebHDFS root "${options.root}": expected an absolute HDFS path such as /fink/archive`,
        { op: "open", path: options.root },
      );
    }
    this.#root = root === "" ? "/" : root;
    this.#user = options.user;
    this.#noRedirect = options.noRedirect ?? false;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#fetch = options.fetch ?? fetch;
    const scheme = this.#endpoint.protocol === "https:" ? "swebhdfs" : "webhdfs";
    this.location = `${scheme}://${this.#endpoint.host}${this.#root === "/" ? "" : this.#root}`;
  }

  #hdfs(rel: string): string {
    if (rel === "") return this.#root;
    return this.#root === "/" ? `/${rel}` : `${this.#root}/${rel}`;
  }

  #url(op: string, hdfsPath: string, params: Record<string, string> = {}): string {
    const encoded = hdfsPath.split("/").map(encodeURIComponent).join("/");
    const url = new URL(`/webhdfs/v1${encoded}`, this.#endpoint);
    url.searchParams.set("op", op);
    if (this.#user !== undefined) url.searchParams.set("user.name", this.#user);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    return url.href;
  }

  /** One HTTP exchange, bounded by the timeout, its answer fully consumed. */
  async #call<T>(spec: CallSpec<T>): Promise<T> {
    const url = spec.url ?? this.#url(spec.op, spec.hdfsPath, spec.params);
    const context: WebHdfsErrorContext = { op: spec.op, hdfsPath: spec.hdfsPath, url };
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`no answer within ${this.#timeoutMs} ms`)),
      this.#timeoutMs,
    );
    try {
      let response: Response;
      try {
        response = await this.#fetch(url, {
          method: spec.method,
          body: spec.body as BodyInit | undefined,
          headers: spec.body ? { "content-type": "application/octet-stream" } : undefined,
          redirect: spec.redirect ?? "follow",
          signal: controller.signal,
        });
      } catch (error) {
        throw networkError(controller.signal.aborted ? controller.signal.reason : error, context);
      }
      try {
        if (spec.ok.includes(response.status)) return await spec.read(response, context);
        if (response.status === 404 && spec.onNotFound) {
          await discard(response);
          return spec.onNotFound();
        }
        throw httpError(response.status, await response.text(), context);
      } catch (error) {
        await response.body?.cancel().catch(() => {});
        if (error instanceof StorageError) throw error;
        throw networkError(controller.signal.aborted ? controller.signal.reason : error, context);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Step one of CREATE/OPEN: the namenode says which datanode URL to use. */
  async #datanodeLocation(
    method: "GET" | "PUT",
    op: string,
    hdfsPath: string,
    params: Record<string, string>,
  ): Promise<string> {
    if (this.#noRedirect) {
      return await this.#call({
        method,
        op,
        hdfsPath,
        params: { ...params, noredirect: "true" },
        ok: [200],
        read: async (response, context) => {
          const json = await readJson(response, context) as { Location?: unknown } | null;
          if (typeof json?.Location !== "string") {
            throw protocolError('{"Location": "<datanode URL>"}', JSON.stringify(json), context);
          }
          return json.Location;
        },
      });
    }
    return await this.#call({
      method,
      op,
      hdfsPath,
      params,
      ok: [307],
      redirect: "manual",
      read: async (response, context) => {
        await discard(response);
        const location = response.headers.get("location");
        if (!location) throw protocolError("a Location header", "none", context);
        return new URL(location, this.#endpoint).href;
      },
    });
  }

  /** See {@link Storage.writeFile}: two-step CREATE with `overwrite=true`. */
  async writeFile(path: string, data: FileData): Promise<void> {
    const hdfsPath = this.#hdfs(normalizeFilePath(path, "writeFile"));
    const location = await this.#datanodeLocation("PUT", "CREATE", hdfsPath, {
      overwrite: "true",
    });
    await this.#call({
      method: "PUT",
      op: "CREATE",
      hdfsPath,
      url: location,
      body: data,
      ok: [201],
      read: discard,
    });
  }

  /**
   * See {@link Storage.createIfAbsent}: the data is written (CREATE) to a hidden temporary
   * file beside `path`, then RENAMEd to `path`, which the namenode refuses atomically when
   * the name exists. A CREATE with `overwrite=false` would be atomic too, but the file is
   * visible, partial, while its data streams in: a reader could take it for a torn one.
   */
  async createIfAbsent(path: string, data: Uint8Array): Promise<boolean> {
    const rel = normalizeFilePath(path, "createIfAbsent");
    const hdfsPath = this.#hdfs(rel);
    const name = rel.slice(rel.lastIndexOf("/") + 1);
    const folder = hdfsPath.slice(0, hdfsPath.length - name.length);
    const temporary = `${folder}.${name}.${crypto.randomUUID()}.create`;
    if (await this.#status(hdfsPath) !== null) return false;
    const location = await this.#datanodeLocation("PUT", "CREATE", temporary, {
      overwrite: "true",
    });
    await this.#call({
      method: "PUT",
      op: "CREATE",
      hdfsPath: temporary,
      url: location,
      body: data,
      ok: [201],
      read: discard,
    });
    // RENAME moves a file INTO an existing directory: a directory at `path` is "taken" too.
    if (await this.#status(hdfsPath) === null && await this.#rename(temporary, hdfsPath)) {
      return true;
    }
    await this.#delete(temporary, false);
    return false;
  }

  /** See {@link Storage.readFile}: OPEN, following the datanode redirect. */
  async readFile(path: string): Promise<Uint8Array> {
    return await this.#open(this.#hdfs(normalizeFilePath(path, "readFile")), {});
  }

  /** See {@link Storage.readRange}: OPEN with `offset` and `length`. */
  async readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    const hdfsPath = this.#hdfs(normalizeFilePath(path, "readRange"));
    return await this.#open(hdfsPath, { offset: String(offset), length: String(length) });
  }

  async #open(hdfsPath: string, params: Record<string, string>): Promise<Uint8Array> {
    const read = async (response: Response) => new Uint8Array(await response.arrayBuffer());
    if (!this.#noRedirect) {
      return await this.#call({ method: "GET", op: "OPEN", hdfsPath, params, ok: [200], read });
    }
    const location = await this.#datanodeLocation("GET", "OPEN", hdfsPath, params);
    return await this.#call({
      method: "GET",
      op: "OPEN",
      hdfsPath,
      url: location,
      ok: [200],
      read,
    });
  }

  async #status(hdfsPath: string): Promise<FileStatus | null> {
    return await this.#call({
      method: "GET",
      op: "GETFILESTATUS",
      hdfsPath,
      ok: [200],
      onNotFound: () => null,
      read: async (response, context) => {
        const json = await readJson(response, context) as { FileStatus?: unknown } | null;
        if (!isFileStatus(json?.FileStatus)) {
          throw protocolError('{"FileStatus": {…}}', JSON.stringify(json), context);
        }
        return json.FileStatus;
      },
    });
  }

  async #rename(from: string, to: string): Promise<boolean> {
    return await this.#call({
      method: "PUT",
      op: "RENAME",
      hdfsPath: from,
      params: { destination: to },
      ok: [200],
      read: readBoolean,
    });
  }

  /**
   * See {@link Storage.rename}. HDFS RENAME moves a source INTO an existing directory and
   * answers `false` (no exception) for a missing source, an existing destination file or a
   * missing destination parent, so those cases are checked around it.
   */
  async rename(from: string, to: string, options: RenameOptions = {}): Promise<void> {
    const src = this.#hdfs(normalizeFilePath(from, "rename"));
    const dst = this.#hdfs(normalizeFilePath(to, "rename"));
    const missingSource = () =>
      new StorageNotFoundError(
        `Cannot rename "${src}" to "${dst}": the source does not exist`,
        { op: "RENAME", path: src },
      );
    const [source, existing] = await Promise.all([this.#status(src), this.#status(dst)]);
    if (!source) throw missingSource();
    if (src === dst) return;
    if (existing?.type === "DIRECTORY") {
      throw new StorageError(
        "already-exists",
        `Cannot rename "${src}" to "${dst}": the destination is a directory; remove it first`,
        { op: "RENAME", path: dst },
      );
    }
    const occupied = () =>
      new StorageError(
        "already-exists",
        `Cannot rename "${src}" to "${dst}" without replacing: the destination exists`,
        { op: "RENAME", path: dst },
      );
    if (existing && options.replace === false) throw occupied();
    // RENAME refuses an existing destination: from this DELETE to the RENAME, `dst` is absent.
    if (existing) await this.#delete(dst, false);
    for (let attempt = 1; attempt <= 2; attempt++) {
      if (await this.#rename(src, dst)) return;
      // Refused: a rival moved the source or took the name meanwhile, or the parent is missing.
      if (!await this.#status(src)) throw missingSource();
      if (options.replace === false && await this.#status(dst) !== null) throw occupied();
      if (attempt === 1) await this.#mkdirs(dst.slice(0, dst.lastIndexOf("/")) || "/");
    }
    throw new StorageError(
      "other",
      `WebHDFS RENAME of "${src}" to "${dst}" answered false although the source exists and the destination's parent was created; check the namenode log`,
      { op: "RENAME", path: src },
    );
  }

  async #delete(hdfsPath: string, recursive: boolean): Promise<void> {
    await this.#call({
      method: "DELETE",
      op: "DELETE",
      hdfsPath,
      params: { recursive: String(recursive) },
      ok: [200],
      read: readBoolean,
    });
  }

  /** See {@link Storage.remove}: DELETE; `false` (nothing there) is fine. */
  async remove(path: string, options: RemoveOptions = {}): Promise<void> {
    const hdfsPath = this.#hdfs(normalizeFilePath(path, "remove"));
    await this.#delete(hdfsPath, options.recursive ?? false);
  }

  /** See {@link Storage.list}: LISTSTATUS. */
  async list(dir: string): Promise<Entry[]> {
    const rel = normalizePath(dir, "list");
    const hdfsPath = this.#hdfs(rel);
    const statuses = await this.#call<FileStatus[]>({
      method: "GET",
      op: "LISTSTATUS",
      hdfsPath,
      ok: [200],
      onNotFound: () => [],
      read: async (response, context) => {
        const json = await readJson(response, context) as {
          FileStatuses?: { FileStatus?: unknown };
        } | null;
        const list = json?.FileStatuses?.FileStatus;
        if (!Array.isArray(list) || !list.every(isFileStatus)) {
          throw protocolError(
            '{"FileStatuses": {"FileStatus": […]}}',
            JSON.stringify(json),
            context,
          );
        }
        return list;
      },
    });
    // LISTSTATUS on a file answers with that one file and an empty pathSuffix.
    if (
      statuses.length === 1 && statuses[0].pathSuffix === "" && statuses[0].type !== "DIRECTORY"
    ) {
      throw new StorageError(
        "invalid",
        `Cannot list "${hdfsPath}": expected a directory, found a file`,
        { op: "LISTSTATUS", path: hdfsPath },
      );
    }
    return statuses
      .map((status) => toEntry(childPath(rel, status.pathSuffix), status))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** See {@link Storage.stat}: GETFILESTATUS. */
  async stat(path: string): Promise<Entry | null> {
    const rel = normalizePath(path, "stat");
    const status = await this.#status(this.#hdfs(rel));
    return status ? toEntry(rel, status) : null;
  }

  async #mkdirs(hdfsPath: string): Promise<void> {
    const made = await this.#call({
      method: "PUT",
      op: "MKDIRS",
      hdfsPath,
      ok: [200],
      read: readBoolean,
    });
    if (!made) {
      throw new StorageError(
        "other",
        `WebHDFS MKDIRS of "${hdfsPath}" answered false; check the namenode log`,
        { op: "MKDIRS", path: hdfsPath },
      );
    }
  }

  /** See {@link Storage.syncFolders}: nothing to do, the namenode's operations are durable. */
  syncFolders(_folders: readonly string[]): Promise<void> {
    return Promise.resolve();
  }

  /** See {@link Storage.mkdirs}: MKDIRS. */
  async mkdirs(path: string): Promise<void> {
    await this.#mkdirs(this.#hdfs(normalizePath(path, "mkdirs")));
  }

  /** See {@link Storage.usage}: GETCONTENTSUMMARY, one request whatever the tree size. */
  async usage(dir: string): Promise<Usage> {
    const hdfsPath = this.#hdfs(normalizePath(dir, "usage"));
    return await this.#call<Usage>({
      method: "GET",
      op: "GETCONTENTSUMMARY",
      hdfsPath,
      ok: [200],
      onNotFound: () => ({ files: 0, bytes: 0 }),
      read: async (response, context) => {
        const json = await readJson(response, context) as {
          ContentSummary?: { fileCount?: unknown; length?: unknown };
        } | null;
        const summary = json?.ContentSummary;
        if (typeof summary?.fileCount !== "number" || typeof summary.length !== "number") {
          throw protocolError(
            '{"ContentSummary": {"fileCount": n, "length": n}}',
            JSON.stringify(json),
            context,
          );
        }
        return { files: summary.fileCount, bytes: summary.length };
      },
    });
  }
}

function toEntry(path: string, status: FileStatus): Entry {
  const isDirectory = status.type === "DIRECTORY";
  return {
    name: baseName(path),
    path,
    isDirectory,
    size: isDirectory ? 0 : status.length,
    modified: typeof status.modificationTime === "number"
      ? new Date(status.modificationTime)
      : null,
  };
}

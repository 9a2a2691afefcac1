/**
 * A small WebHDFS-protocol server for tests, on 127.0.0.1 with a free port, backed by a
 * temporary directory. It follows the Hadoop WebHDFS REST documentation
 * (`/work/shared/data/webhdfs/webhdfs_facts.json`): two-step CREATE and OPEN through a
 * 307 redirect to a "datanode" (this same server under `/datanode/webhdfs/v1/…`) or
 * `noredirect=true` (CREATE with `overwrite=false` atomic, as the namenode's create is), MKDIRS,
 * RENAME (old `rename` semantics: `false` instead of errors; atomic against rival renames),
 * LISTSTATUS, GETFILESTATUS, GETCONTENTSUMMARY, DELETE, and Hadoop's JSON error bodies.
 * Tests inject faults with {@link WebHdfsTestServer.failNext}, fill the disk with
 * {@link WebHdfsTestServer.setSpaceQuota} and inspect {@link WebHdfsTestServer.requests}.
 */
import { join } from "node:path";

/** Which half of the protocol a request hit. */
export type Stage = "namenode" | "datanode";

/** One request as the server saw it. */
export interface RequestRecord {
  method: string;
  /** The `op` parameter, upper-cased. */
  op: string;
  /** The absolute HDFS path. */
  path: string;
  stage: Stage;
  /** The `user.name` parameter, or null. */
  user: string | null;
  /** Query parameters other than op and user.name. */
  params: Record<string, string>;
  /** Size of the request body. */
  bytes: number;
  /** Status the server answered with. */
  status: number;
}

/** An injected failure. */
export interface Fault {
  /** HTTP status (default 500). */
  status?: number;
  /** Java exception, simple or qualified name (default `java.io.IOException`). */
  exception?: string;
  /** Exception message (default: "Injected fault"). */
  message?: string;
  /** Only requests for these ops fail (default: any op). */
  ops?: string[];
  /** Only requests at this stage fail (default: either). */
  stage?: Stage;
}

/** Options of {@link WebHdfsTestServer.start}. */
export interface WebHdfsServerOptions {
  /** When set, write operations by any other `user.name` get AccessControlException. */
  owner?: string;
}

interface PendingFault {
  remaining: number;
  fault: Fault;
}

const WRITE_OPS = new Set(["CREATE", "MKDIRS", "RENAME", "DELETE"]);
const PUT_OPS = new Set(["CREATE", "MKDIRS", "RENAME"]);
const GET_OPS = new Set(["OPEN", "LISTSTATUS", "GETFILESTATUS", "GETCONTENTSUMMARY"]);

/** A failure the handler answers with a Hadoop RemoteException. */
class Remote extends Error {
  constructor(readonly status: number, readonly javaClassName: string, message: string) {
    super(message);
  }
}

function remoteResponse(status: number, javaClassName: string, message: string): Response {
  const exception = javaClassName.slice(javaClassName.lastIndexOf(".") + 1);
  return Response.json({ RemoteException: { exception, javaClassName, message } }, { status });
}

function booleanResponse(value: boolean): Response {
  return Response.json({ boolean: value });
}

function notFound(path: string): Remote {
  return new Remote(404, "java.io.FileNotFoundException", `File does not exist: ${path}`);
}

async function statOrNull(abs: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(abs);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return null;
    }
    throw error;
  }
}

function fileStatus(suffix: string, info: Deno.FileInfo, children: number): unknown {
  const dir = info.isDirectory;
  return {
    accessTime: dir ? 0 : info.atime?.getTime() ?? 0,
    blockSize: dir ? 0 : 134217728,
    childrenNum: children,
    fileId: info.ino ?? 0,
    group: "supergroup",
    length: dir ? 0 : info.size,
    modificationTime: info.mtime?.getTime() ?? 0,
    owner: "webuser",
    pathSuffix: suffix,
    permission: dir ? "755" : "644",
    replication: dir ? 0 : 1,
    storagePolicy: 0,
    type: dir ? "DIRECTORY" : "FILE",
  };
}

async function countChildren(abs: string, info: Deno.FileInfo): Promise<number> {
  if (!info.isDirectory) return 0;
  let n = 0;
  for await (const _ of Deno.readDir(abs)) n++;
  return n;
}

async function summarize(
  abs: string,
): Promise<{ directoryCount: number; fileCount: number; length: number }> {
  const info = await Deno.stat(abs);
  if (!info.isDirectory) return { directoryCount: 0, fileCount: 1, length: info.size };
  const total = { directoryCount: 1, fileCount: 0, length: 0 };
  for await (const item of Deno.readDir(abs)) {
    const sub = await summarize(join(abs, item.name));
    total.directoryCount += sub.directoryCount;
    total.fileCount += sub.fileCount;
    total.length += sub.length;
  }
  return total;
}

/** The running server; `close()` it (or `await using`) at the end of every test. */
export class WebHdfsTestServer {
  /** Every request received, oldest first. */
  readonly requests: RequestRecord[] = [];
  /** The directory holding the HDFS namespace (`/` maps to it). */
  readonly dataDir: string;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #options: WebHdfsServerOptions;
  readonly #faults: PendingFault[] = [];
  #quota: number | null = null;

  private constructor(dataDir: string, options: WebHdfsServerOptions) {
    this.dataDir = dataDir;
    this.#options = options;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
  }

  /** Starts a server on 127.0.0.1 with an OS-chosen port and an empty namespace. */
  static async start(options: WebHdfsServerOptions = {}): Promise<WebHdfsTestServer> {
    const dataDir = await Deno.makeTempDir({ prefix: "webhdfs_server_" });
    return new WebHdfsTestServer(dataDir, options);
  }

  /** The namenode HTTP address, e.g. `http://127.0.0.1:40123`. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** `webhdfs://127.0.0.1:<port><path>`, for `openStorage`. */
  url(path = "/"): string {
    return `webhdfs://127.0.0.1:${this.#server.addr.port}${path}`;
  }

  /** Where an HDFS path lives in {@link dataDir}. */
  localPath(hdfsPath: string): string {
    return join(this.dataDir, ...hdfsPath.split("/").filter((s) => s !== ""));
  }

  /** The next `n` matching requests fail with `fault` (default: 500 java.io.IOException). */
  failNext(n: number, fault: Fault = {}): void {
    this.#faults.push({ remaining: n, fault });
  }

  /**
   * Limits the bytes stored under `/` (null: no limit). A datanode write that would go
   * over fails with 403 DSQuotaExceededException, like a full HDFS quota.
   */
  setSpaceQuota(bytes: number | null): void {
    this.#quota = bytes;
  }

  /** Stops the server and deletes its data. */
  async close(): Promise<void> {
    await this.#server.shutdown();
    await Deno.remove(this.dataDir, { recursive: true });
  }

  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #takeFault(op: string, stage: Stage): Fault | null {
    const index = this.#faults.findIndex(({ fault }) =>
      (!fault.ops || fault.ops.includes(op)) && (!fault.stage || fault.stage === stage)
    );
    if (index < 0) return null;
    const pending = this.#faults[index];
    if (--pending.remaining <= 0) this.#faults.splice(index, 1);
    return pending.fault;
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const body = request.body ? new Uint8Array(await request.arrayBuffer()) : new Uint8Array();
    const match = /^(\/datanode)?\/webhdfs\/v1(\/.*)?$/.exec(url.pathname);
    if (!match) return new Response("Not found", { status: 404 });
    const stage: Stage = match[1] ? "datanode" : "namenode";
    const op = (url.searchParams.get("op") ?? "").toUpperCase();
    const params: Record<string, string> = {};
    for (const [key, value] of url.searchParams) {
      if (key !== "op" && key !== "user.name") params[key] = value;
    }
    const record: RequestRecord = {
      method: request.method,
      op,
      path: "/",
      stage,
      user: url.searchParams.get("user.name"),
      params,
      bytes: body.length,
      status: 0,
    };
    this.requests.push(record);
    let response: Response;
    try {
      record.path = this.#hdfsPath(match[2] ?? "/");
      const fault = this.#takeFault(op, stage);
      response = fault
        ? remoteResponse(
          fault.status ?? 500,
          fault.exception ?? "java.io.IOException",
          fault.message ?? "Injected fault",
        )
        : await this.#dispatch(request.method, op, stage, record, url, body);
    } catch (error) {
      response = error instanceof Remote
        ? remoteResponse(error.status, error.javaClassName, error.message)
        : remoteResponse(500, "java.lang.RuntimeException", String(error));
    }
    record.status = response.status;
    return response;
  }

  #hdfsPath(raw: string): string {
    let decoded: string;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      throw new Remote(400, "java.lang.IllegalArgumentException", `Invalid path: ${raw}`);
    }
    const segments = decoded.split("/").filter((s) => s !== "");
    if (segments.some((s) => s === "." || s === ".." || s.includes(":"))) {
      throw new Remote(
        400,
        "org.apache.hadoop.fs.InvalidPathException",
        `Invalid path name Invalid file name: ${decoded}`,
      );
    }
    return "/" + segments.join("/");
  }

  #dispatch(
    method: string,
    op: string,
    stage: Stage,
    record: RequestRecord,
    url: URL,
    body: Uint8Array,
  ): Promise<Response> {
    const expected = PUT_OPS.has(op)
      ? "PUT"
      : GET_OPS.has(op)
      ? "GET"
      : op === "DELETE"
      ? "DELETE"
      : null;
    if (expected !== method) {
      const kind = method === "PUT" ? "Put" : method === "DELETE" ? "Delete" : "Get";
      throw new Remote(
        400,
        "java.lang.IllegalArgumentException",
        `Invalid value for webhdfs parameter "op": No enum constant org.apache.hadoop.hdfs.web.resources.${kind}OpParam.Op.${op}`,
      );
    }
    const owner = this.#options.owner;
    if (owner !== undefined && WRITE_OPS.has(op) && record.user !== owner) {
      throw new Remote(
        403,
        "org.apache.hadoop.security.AccessControlException",
        `Permission denied: user=${
          record.user ?? "dr.who"
        }, access=WRITE, inode="/":${owner}:supergroup:drwxr-xr-x`,
      );
    }
    const path = record.path;
    const params = url.searchParams;
    switch (op) {
      case "CREATE":
        return stage === "namenode"
          ? this.#createStep1(path, url)
          : this.#createStep2(path, params, body);
      case "OPEN":
        return stage === "namenode" ? this.#openStep1(path, url) : this.#openStep2(path, params);
      case "MKDIRS":
        return this.#mkdirs(path);
      case "RENAME":
        return this.#rename(path, params.get("destination"));
      case "DELETE":
        return this.#delete(path, params.get("recursive") === "true");
      case "GETFILESTATUS":
        return this.#getFileStatus(path);
      case "LISTSTATUS":
        return this.#listStatus(path);
      default:
        return this.#contentSummary(path);
    }
  }

  /** Throws ParentNotDirectoryException when an ancestor of `path` is a file. */
  async #checkAncestors(path: string): Promise<void> {
    const segments = path.split("/").filter((s) => s !== "");
    for (let i = 1; i < segments.length; i++) {
      const ancestor = "/" + segments.slice(0, i).join("/");
      const info = await statOrNull(this.localPath(ancestor));
      if (!info) return;
      if (!info.isDirectory) {
        throw new Remote(
          403,
          "org.apache.hadoop.fs.ParentNotDirectoryException",
          `${ancestor} (is not a directory)`,
        );
      }
    }
  }

  async #checkCreatable(path: string, overwrite: boolean): Promise<void> {
    await this.#checkAncestors(path);
    const info = await statOrNull(this.localPath(path));
    if (info?.isDirectory) {
      throw new Remote(
        403,
        "org.apache.hadoop.fs.FileAlreadyExistsException",
        `${path} already exists as a directory`,
      );
    }
    if (info && !overwrite) {
      throw new Remote(
        403,
        "org.apache.hadoop.fs.FileAlreadyExistsException",
        `${path} for client 127.0.0.1 already exists`,
      );
    }
  }

  #datanodeUrl(url: URL, extra: Record<string, string>): string {
    const target = new URL(`/datanode${url.pathname}`, url);
    for (const [key, value] of url.searchParams) {
      if (key !== "noredirect") target.searchParams.set(key, value);
    }
    for (const [key, value] of Object.entries(extra)) target.searchParams.set(key, value);
    return target.href;
  }

  #redirect(url: URL, location: string): Response {
    if (url.searchParams.get("noredirect") === "true") return Response.json({ Location: location });
    return new Response(null, { status: 307, headers: { location } });
  }

  async #createStep1(path: string, url: URL): Promise<Response> {
    await this.#checkCreatable(path, url.searchParams.get("overwrite") === "true");
    return this.#redirect(
      url,
      this.#datanodeUrl(url, { namenoderpcaddress: "localhost:8020", createparent: "true" }),
    );
  }

  async #createStep2(path: string, params: URLSearchParams, body: Uint8Array): Promise<Response> {
    await this.#checkCreatable(path, params.get("overwrite") === "true");
    const abs = this.localPath(path);
    if (this.#quota !== null) {
      const used = (await summarize(this.dataDir)).length;
      const replaced = (await statOrNull(abs))?.size ?? 0;
      const consumed = used - replaced + body.length;
      if (consumed > this.#quota) {
        throw new Remote(
          403,
          "org.apache.hadoop.hdfs.protocol.DSQuotaExceededException",
          `The DiskSpace quota of / is exceeded: quota = ${this.#quota} B but diskspace consumed = ${consumed} B`,
        );
      }
    }
    // The namenode's create is atomic: of two writers racing past the check above with
    // overwrite=false, the second one's create must fail, as HDFS's does; and the parents it
    // creates cannot vanish under it (a rival's recursive DELETE between the two steps here).
    const overwrite = params.get("overwrite") === "true";
    for (let attempt = 0;; attempt++) {
      await Deno.mkdir(this.localPath(path.slice(0, path.lastIndexOf("/")) || "/"), {
        recursive: true,
      });
      try {
        await Deno.writeFile(abs, body, { createNew: !overwrite });
        break;
      } catch (error) {
        if (error instanceof Deno.errors.NotFound && attempt < 10) continue;
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        throw new Remote(
          403,
          "org.apache.hadoop.fs.FileAlreadyExistsException",
          `${path} for client 127.0.0.1 already exists`,
        );
      }
    }
    return new Response(null, {
      status: 201,
      headers: { location: `webhdfs://127.0.0.1:${this.#server.addr.port}${path}` },
    });
  }

  async #openStep1(path: string, url: URL): Promise<Response> {
    const info = await statOrNull(this.localPath(path));
    if (!info) throw notFound(path);
    if (info.isDirectory) {
      throw new Remote(404, "java.io.FileNotFoundException", `Path is not a file: ${path}`);
    }
    return this.#redirect(url, this.#datanodeUrl(url, {}));
  }

  async #openStep2(path: string, params: URLSearchParams): Promise<Response> {
    let data: Uint8Array;
    try {
      data = await Deno.readFile(this.localPath(path));
    } catch {
      throw notFound(path);
    }
    const offset = Number(params.get("offset") ?? 0);
    const length = params.get("length");
    const slice = data.subarray(offset, length === null ? undefined : offset + Number(length));
    return new Response(slice as Uint8Array<ArrayBuffer>, {
      headers: { "content-type": "application/octet-stream" },
    });
  }

  async #mkdirs(path: string): Promise<Response> {
    await this.#checkAncestors(path);
    const info = await statOrNull(this.localPath(path));
    if (info && !info.isDirectory) {
      throw new Remote(
        403,
        "org.apache.hadoop.fs.FileAlreadyExistsException",
        `Path is not a directory: ${path}`,
      );
    }
    await Deno.mkdir(this.localPath(path), { recursive: true });
    return booleanResponse(true);
  }

  /** HDFS's old `rename(src, dst)`: false for every refusal, moves into an existing directory. */
  async #rename(src: string, destination: string | null): Promise<Response> {
    if (!destination?.startsWith("/")) {
      throw new Remote(
        400,
        "java.lang.IllegalArgumentException",
        `Invalid value for webhdfs parameter "destination": expected an absolute path, found ${destination}`,
      );
    }
    let dst = this.#hdfsPath(destination);
    const srcInfo = await statOrNull(this.localPath(src));
    if (!srcInfo || src === "/") return booleanResponse(false);
    if (src === dst) return booleanResponse(true);
    const dstInfo = await statOrNull(this.localPath(dst));
    if (dstInfo?.isDirectory) {
      dst = `${dst === "/" ? "" : dst}/${src.slice(src.lastIndexOf("/") + 1)}`;
    } else if (dstInfo) return booleanResponse(false);
    if (await statOrNull(this.localPath(dst))) return booleanResponse(false);
    if (dst.startsWith(`${src}/`)) return booleanResponse(false);
    const parent = await statOrNull(this.localPath(dst.slice(0, dst.lastIndexOf("/")) || "/"));
    if (!parent?.isDirectory) return booleanResponse(false);
    // The namenode renames atomically: a rival rename of the same source (between the checks
    // above and this line) makes this one answer false, never fail or overwrite.
    try {
      if (srcInfo.isDirectory) await Deno.rename(this.localPath(src), this.localPath(dst));
      else {
        await Deno.link(this.localPath(src), this.localPath(dst));
        await Deno.remove(this.localPath(src));
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.AlreadyExists) {
        return booleanResponse(false);
      }
      throw error;
    }
    return booleanResponse(true);
  }

  async #delete(path: string, recursive: boolean): Promise<Response> {
    const info = await statOrNull(this.localPath(path));
    if (!info || path === "/") return booleanResponse(false);
    if (info.isDirectory && !recursive && await countChildren(this.localPath(path), info) > 0) {
      throw new Remote(
        403,
        "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
        `\`${path} is non empty': Directory is not empty`,
      );
    }
    try {
      await Deno.remove(this.localPath(path), { recursive: true });
    } catch (error) {
      // A rival DELETE got there first: the namenode answers false, as for a missing path.
      if (error instanceof Deno.errors.NotFound) return booleanResponse(false);
      throw error;
    }
    return booleanResponse(true);
  }

  async #getFileStatus(path: string): Promise<Response> {
    const abs = this.localPath(path);
    const info = await statOrNull(abs);
    if (!info) throw notFound(path);
    const children = await countChildren(abs, info).catch(() => null);
    if (children === null) throw notFound(path);
    return Response.json({ FileStatus: fileStatus("", info, children) });
  }

  async #listStatus(path: string): Promise<Response> {
    const abs = this.localPath(path);
    const info = await statOrNull(abs);
    if (!info) {
      throw new Remote(404, "java.io.FileNotFoundException", `File ${path} does not exist.`);
    }
    const statuses: unknown[] = [];
    if (!info.isDirectory) statuses.push(fileStatus("", info, 0));
    else {
      const names: string[] = [];
      for await (const item of Deno.readDir(abs)) names.push(item.name);
      for (const name of names.sort()) {
        const childAbs = join(abs, name);
        // The namenode lists a consistent folder: a child deleted meanwhile is not in it.
        const child = await statOrNull(childAbs);
        const children = child === null
          ? null
          : await countChildren(childAbs, child).catch(() => null);
        if (child !== null && children !== null) statuses.push(fileStatus(name, child, children));
      }
    }
    return Response.json({ FileStatuses: { FileStatus: statuses } });
  }

  async #contentSummary(path: string): Promise<Response> {
    const abs = this.localPath(path);
    if (!await statOrNull(abs)) throw notFound(path);
    const summary = await summarize(abs);
    return Response.json({
      ContentSummary: {
        ...summary,
        quota: -1,
        spaceConsumed: summary.length,
        spaceQuota: this.#quota ?? -1,
        typeQuota: {},
      },
    });
  }
}

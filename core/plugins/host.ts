/**
 * The plugin host: discovers `plugins/*.ts` at start and while running, runs
 * each in its own sandboxed child process (see runner.ts, process.ts) and fans every batch of
 * decoded alerts out to the running `stream` plugins as Arrow IPC.
 *
 * Backpressure: `dispatch` never waits. Each plugin has a bounded queue
 * (`queueLimit` batches); when it is full the batch is skipped for that plugin
 * and reported (`dropped` event and counter). A caller that prefers to slow
 * down rather than skip awaits `ready()` before dispatching, which resolves
 * once every running plugin has room; plugins that are restarting, failed or
 * stopped never hold it back.
 */
import * as arrow from "apache-arrow";
import { basename, dirname, resolve } from "node:path";
import { projectTable } from "../arrow/projection.ts";
import { alertObjectIds } from "../archive/reader.ts";
import { keyDefault } from "../config/keys.ts";
import type { ConfigTable } from "../config/mod.ts";
import { BUILT_IN_NAMES } from "./consent.ts";
import type { ResultReplace, ResultSink, ResultSource } from "./results.ts";
import type { BatchTicket, QueuedBatch } from "./batch_queue.ts";
import { fileFingerprint, type PluginEvent, PluginRunner, type PluginStatus } from "./runner.ts";
import type { PluginSummary } from "./summary.ts";

/** A batch of decoded alerts as handed over by the archive. */
export interface PluginBatch {
  /** One row per alert. */
  table: arrow.Table;
  topic: string;
  partition: number;
  startOffset: number | bigint;
  endOffset: number | bigint;
  /** Alert id of each row (`candid` or `diaSourceId`). */
  ids: ArrayLike<bigint>;
  /** Event hour of each row, in whole hours since the Unix epoch (results are partitioned by it). */
  eventHours: ArrayLike<number>;
  /** Offset range of the rows of each event hour, naming the result files; default the batch's. */
  sources?: ResultSource[];
  /** Earlier result files this batch supersedes (a re-read of compacted archive files). */
  replaces?: ResultReplace;
}

/** Options of {@link PluginHost.dispatch}. */
export interface DispatchOptions {
  /** Only these plugins (stream or batch); default every running stream plugin. */
  to?: string[];
  /** A ticket per plugin that queues the batch. */
  ticket?(plugin: string): BatchTicket;
}

/** What `dispatch` did with a batch. */
export interface DispatchReport {
  /** Plugins that queued the batch. */
  queued: string[];
  /** Plugins whose queue was full, so they skip it. */
  dropped: string[];
}

/** Options of {@link createPluginHost}. */
export interface PluginHostOptions {
  /** Folder of plugin files, relative to `root` or absolute. Default `plugins`. */
  dir?: string;
  /** Project root, against which manifest paths are resolved. Default the working directory. */
  root?: string;
  /** Configuration section of each plugin, by plugin name. */
  configs?: Readonly<Record<string, ConfigTable>>;
  /** CPU time one batch may take in a plugin before its process is killed. Default `plugins.budget_ms`'s. */
  budgetMs?: number;
  /** Heap cap of each plugin process in MB (a section's `memory_mb` overrides it). Default `plugins.memory_mb`'s. */
  memoryMb?: number;
  /** Largest result of one batch, in MB. Default `plugins.max_result_mb`'s. */
  maxResultMb?: number;
  /** Names no plugin may take. Default the built-in services (consent.ts). */
  reservedNames?(): readonly string[];
  /** Paths no plugin may ever read or write. Default `<root>/<process.state_dir's default>` (the control token). */
  deny?: string[];
  /** Time a plugin may take to load or run `setup`. Default 60,000 ms. */
  setupTimeoutMs?: number;
  /** Delay before restarting a failed plugin, doubled after each failure. Default 500 ms to 30 s. */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** Batches queued per plugin before new ones are skipped. Default `plugins.queue_limit`'s. */
  queueLimit?: number;
  /** Recent rows kept per plugin for `summary`. Default 20. */
  recentRows?: number;
  /** Watch `dir` for added, changed and removed files. Default true. */
  watch?: boolean;
  /**
   * Start stream plugins as they are found. Default true; when false every
   * plugin is only probed and waits for `start`. Batch plugins always wait.
   */
  autoStart?: boolean;
  /** Quiet period after a file event before (re)loading. Default 150 ms. */
  debounceMs?: number;
  /** Where results go. */
  sink: ResultSink;
  /** Structured events; by default one JSON line per event on stderr (batch events omitted). */
  onEvent?(event: PluginEvent): void;
}

/** A running plugin host. */
export interface PluginHost {
  /** Queues the batch for every running stream plugin (or those of `to`); never waits for them. */
  dispatch(batch: PluginBatch, options?: DispatchOptions): DispatchReport;
  /** Resolves when every running plugin (or the one named) has room in its queue. */
  ready(name?: string): Promise<void>;
  /** Whether the named plugin takes batches and has room for one more. */
  hasRoom(name: string): boolean;
  /**
   * Resolves when every running or starting plugin has processed and written all
   * it has queued (restarting ones are not waited for) and no write is pending.
   */
  idle(): Promise<void>;
  /**
   * Resolves once every result write of the named plugin queued so far has settled
   * (written or failed), also while it restarts.
   */
  written(name: string): Promise<void>;
  /** (Re)starts a plugin by name, reloading its file; batch plugins too. */
  start(name: string): Promise<void>;
  /** Stops a plugin by name until `start` or a change of its file. */
  stop(name: string): void;
  /** Status of every plugin file. */
  list(): PluginStatus[];
  /** Live summary of a plugin's results. */
  summary(name: string): PluginSummary;
  /** Stops watching and every plugin, waiting for pending result writes. */
  close(): Promise<void>;
}

/**
 * Starts a plugin host: loads every `*.ts` in `dir` (resolving once each is
 * running or has failed) and then follows the folder's changes.
 */
export async function createPluginHost(options: PluginHostOptions): Promise<PluginHost> {
  const root = resolve(options.root ?? Deno.cwd());
  const dir = resolve(root, options.dir ?? keyDefault("plugins.dir"));
  const info = await Deno.stat(dir).catch(() => undefined);
  if (!info?.isDirectory) {
    throw new Error(`Plugin folder ${dir} does not exist; create it or set the host's dir option`);
  }
  const emit = options.onEvent ?? logEvent;
  const runners = new Map<string, PluginRunner>();
  const waiters = new Set<() => boolean>();
  let seq = 0;
  let closed = false;

  function changed(): void {
    for (const waiter of waiters) if (waiter()) waiters.delete(waiter);
  }

  function waitUntil(condition: () => boolean): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => {
      waiters.add(() => {
        if (!condition()) return false;
        resolve();
        return true;
      });
    });
  }

  const runnerOptions = {
    root,
    configFor: (name: string) => options.configs?.[name] ?? {},
    nameConflict(name: string, file: string): string | undefined {
      for (const other of runners.values()) {
        if (other.file !== file && other.manifestName === name) {
          return `Plugin name "${name}" is already used by ${other.file}; give each plugin its own name`;
        }
      }
      return undefined;
    },
    budgetMs: options.budgetMs ?? keyDefault("plugins.budget_ms"),
    memoryMb: options.memoryMb ?? keyDefault("plugins.memory_mb"),
    maxResultBytes: (options.maxResultMb ?? keyDefault("plugins.max_result_mb")) * 1_048_576,
    reservedNames: options.reservedNames ?? (() => BUILT_IN_NAMES),
    deny: options.deny ?? [resolve(root, keyDefault("process.state_dir"))],
    setupTimeoutMs: options.setupTimeoutMs ?? 60_000,
    restartBackoff: options.restartBackoff ?? { initialMs: 500, maxMs: 30_000 },
    queueLimit: options.queueLimit ?? keyDefault("plugins.queue_limit"),
    recentRows: options.recentRows ?? 20,
    sink: options.sink,
    emit,
    changed,
  };

  function isPluginFile(path: string): boolean {
    const name = basename(path);
    return dirname(path) === dir && name.endsWith(".ts") && !name.startsWith(".") &&
      !name.endsWith(".d.ts");
  }

  async function sync(path: string): Promise<void> {
    if (closed) return;
    const stat = await Deno.stat(path).catch(() => undefined);
    const existing = runners.get(path);
    if (!stat?.isFile) {
      if (existing === undefined) return;
      runners.delete(path);
      await existing.close();
      emit({ event: "removed", plugin: existing.name, file: path });
      changed();
      return;
    }
    if (existing !== undefined) {
      const fingerprint = await fileFingerprint(path).catch(() => undefined);
      if (fingerprint === existing.fingerprint) return;
    }
    const runner = existing ?? new PluginRunner(path, runnerOptions);
    runners.set(path, runner);
    // A plugin started by hand (a batch plugin, or any when autoStart is off) keeps running.
    const running = existing?.acceptsBatches === true;
    await runner.load(running ? true : options.autoStart === false ? false : "stream");
  }

  function find(name: string): PluginRunner {
    for (const runner of runners.values()) if (runner.name === name) return runner;
    const known = [...runners.values()].map((r) => r.name).join(", ") || "none";
    throw new Error(`No plugin named "${name}" (known: ${known})`);
  }

  const syncs = new Set<Promise<void>>();
  const debounce = new Map<string, ReturnType<typeof setTimeout>>();
  const watcher = options.watch === false ? undefined : Deno.watchFs(dir, { recursive: false });
  const watching = (async () => {
    if (watcher === undefined) return;
    for await (const event of watcher) {
      if (event.kind === "access") continue;
      for (const path of event.paths) {
        if (!isPluginFile(path)) continue;
        clearTimeout(debounce.get(path));
        debounce.set(
          path,
          setTimeout(() => {
            debounce.delete(path);
            const pending = sync(path);
            syncs.add(pending);
            pending.finally(() => syncs.delete(pending));
          }, options.debounceMs ?? 150),
        );
      }
    }
  })();

  const initial: Promise<void>[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = resolve(dir, entry.name);
    if (entry.isFile && isPluginFile(path)) initial.push(sync(path));
  }
  await Promise.all(initial);

  return {
    dispatch(batch, dispatchOptions = {}) {
      const rows = batch.table.numRows;
      if (batch.ids.length !== rows || batch.eventHours.length !== rows) {
        throw new Error(
          `Batch must have one id and one event hour per row: ${rows} rows, ` +
            `${batch.ids.length} ids, ${batch.eventHours.length} event hours`,
        );
      }
      const report: DispatchReport = { queued: [], dropped: [] };
      const { to, ticket } = dispatchOptions;
      const targets = [...runners.values()].filter((runner) =>
        runner.acceptsBatches &&
        (to === undefined ? runner.kind === "stream" : to.includes(runner.name))
      );
      if (targets.length === 0) return report;
      const hourById = new Map<bigint, number>();
      for (let i = 0; i < rows; i++) hourById.set(batch.ids[i], batch.eventHours[i]);
      // Recent results are shown by object id, which plugins do not return: carried alongside.
      const objectIds = alertObjectIds(batch.table);
      const objectById = new Map<bigint, string>();
      for (let i = 0; objectIds !== undefined && i < rows; i++) {
        if (objectIds[i] !== null) objectById.set(batch.ids[i], objectIds[i]!);
      }
      const shared = { ...meta(batch, hourById, ++seq), objectById };
      const groups = new Map<string, PluginRunner[]>();
      for (const runner of targets) {
        if (!runner.hasRoom) {
          runner.skip(shared);
          report.dropped.push(runner.name);
          continue;
        }
        // A filter's science inputs travel as columns of their own, beside those it asked for.
        const columns = runner.columns && [...runner.columns, ...runner.science ?? []];
        const key = JSON.stringify(columns ?? null);
        groups.set(key, [...(groups.get(key) ?? []), runner]);
      }
      for (const [key, group] of groups) {
        const columns = JSON.parse(key) as string[] | null;
        const table = columns === null ? batch.table : projectTable(batch.table, columns);
        const bytes = arrow.tableToIPC(table, "stream");
        group.forEach((runner, index) => {
          const last = index === group.length - 1;
          const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
          const ipc = last && whole ? bytes.buffer as ArrayBuffer : bytes.slice().buffer;
          runner.enqueue({ ...shared, ipc, ticket: ticket?.(runner.name) });
          report.queued.push(runner.name);
        });
      }
      return report;
    },
    ready(name) {
      return waitUntil(() =>
        closed ||
        [...runners.values()].every((r) =>
          (name !== undefined && r.name !== name) || r.state !== "running" || r.hasRoom
        )
      );
    },
    hasRoom(name) {
      const runner = [...runners.values()].find((r) => r.name === name);
      return runner !== undefined && runner.acceptsBatches && runner.hasRoom;
    },
    idle() {
      return waitUntil(() => closed || [...runners.values()].every((r) => r.idle));
    },
    async written(name) {
      // A plugin removed meanwhile has nothing left to write.
      await [...runners.values()].find((r) => r.name === name)?.written();
    },
    async start(name) {
      await find(name).load(true);
    },
    stop(name) {
      find(name).stop();
    },
    list() {
      return [...runners.values()].map((runner) => runner.status());
    },
    summary(name) {
      return find(name).summary();
    },
    async close() {
      if (closed) return;
      closed = true;
      watcher?.close();
      await watching;
      for (const timer of debounce.values()) clearTimeout(timer);
      debounce.clear();
      await Promise.all(syncs);
      await Promise.all([...runners.values()].map((runner) => runner.close()));
      changed();
    },
  };
}

function meta(
  batch: PluginBatch,
  hourById: Map<bigint, number>,
  seq: number,
): Omit<QueuedBatch, "ipc" | "ticket"> {
  return {
    seq,
    ids: batch.ids,
    topic: batch.topic,
    partition: batch.partition,
    startOffset: batch.startOffset,
    endOffset: batch.endOffset,
    hourById,
    sources: batch.sources,
    replaces: batch.replaces,
  };
}

function logEvent(event: PluginEvent): void {
  if (event.event === "batch") return;
  console.error(JSON.stringify(
    { component: "plugins", ...event },
    (_key, value) => typeof value === "bigint" ? String(value) : value,
  ));
}

/**
 * One plugin file's life: probe its manifest in a process with no permission
 * but its code, check its name and the operator's consent, start the
 * sandboxed process, feed it one batch at a time from a bounded queue, enforce
 * the CPU budget, restart it with exponential backoff after any failure, and
 * hand its rows to the sink.
 */
import { basename } from "node:path";
import { tableFromIPC } from "apache-arrow";
import { Histogram, type HistogramSnapshot, SHORT_SECONDS } from "../histogram.ts";
import { definePlugin, type OutputType, type PluginRow } from "./define.ts";
import { checkConsent, checkName } from "./consent.ts";
import { megabytes } from "./frames.ts";
import { PluginProcess, type ProcessEnd } from "./process.ts";
import {
  type AlertFailure,
  describeManifest,
  type PluginDescription,
  type WorkerMessage,
} from "./protocol.ts";
import { tableToRows } from "./result_table.ts";
import { checkRows } from "./rows.ts";
import type { ResultPublisher, ResultReplace, ResultSink, ResultSource } from "./results.ts";
import { describeDenial, processFlags } from "./sandbox.ts";
import { type PluginSummary, SummaryAccumulator } from "./summary.ts";

/** How often the CPU time of a plugin busy with a batch is read. */
const BUDGET_CHECK_MS = 100;
/** Failed alerts kept per plugin, with their reasons, for its status. */
const RECENT_FAILURES = 5;

/** Lifecycle state of a plugin. */
export type PluginState = "starting" | "running" | "stopped" | "failed" | "restarting";

/** A structured event about a plugin, for logging and for waiting on. */
export interface PluginEvent {
  event:
    | "loaded"
    | "started"
    | "failed"
    | "error"
    | "restarting"
    | "stopped"
    | "removed"
    | "batch"
    | "dropped"
    | "sink_error"
    | "log";
  plugin: string;
  file: string;
  message?: string;
  [field: string]: unknown;
}

/** Status of one plugin as shown by `list()`. */
export interface PluginStatus {
  name: string;
  description: string;
  version: string;
  kind: string;
  file: string;
  state: PluginState;
  permissions: PluginDescription["permissions"];
  /** The columns it reads, when it declares them. */
  columns?: string[];
  batches: number;
  rows: number;
  errors: number;
  dropped: number;
  lastError: string | null;
  avgMsPerBatch: number | null;
  lastMsPerBatch: number | null;
  /** Time each batch took, from sending it to the plugin process to its rows coming back. */
  batchSeconds: HistogramSnapshot;
  restarts: number;
  /** Alerts `process` could not handle: they got null outputs. */
  failedAlerts: number;
  /** The last of those alerts, with the reason. */
  lastFailedAlerts: { id: string; reason: string }[];
  /** Heap cap of its process, in MB. */
  memoryMb: number;
}

/**
 * How whoever fed a batch follows it: the archive feed uses it to drop batches
 * it will feed again (after a failure) and to record progress once results are durable.
 */
export interface BatchTicket {
  /** False once the batch is no longer wanted; it is then dropped unprocessed. */
  current(): boolean;
  /** How its results become visible (with the feed's progress); default: renamed in place. */
  publisher?: ResultPublisher;
  /** Runs after the batch's results are durable, in the order batches were queued. */
  written(): Promise<void>;
}

/** A batch as queued for one plugin: its IPC bytes (owned by this plugin) and shared metadata. */
export interface QueuedBatch {
  seq: number;
  ipc: ArrayBuffer;
  /** Alert id of each row, in order. */
  ids: ArrayLike<bigint>;
  topic: string;
  partition: number;
  startOffset: number | bigint;
  endOffset: number | bigint;
  /** Event hour of each alert id in the batch. */
  hourById: Map<bigint, number>;
  /** Object id (ZTF `objectId`, Rubin `diaObjectId`) of each alert id that has one. */
  objectById?: Map<bigint, string>;
  /** Offset ranges per event hour, naming the result files (see ResultBatchMeta). */
  sources?: ResultSource[];
  /** Earlier result files this batch supersedes (see ResultBatchMeta). */
  replaces?: ResultReplace;
  ticket?: BatchTicket;
}

/** Settings a runner gets from its host. */
export interface RunnerOptions {
  root: string;
  configFor(name: string): Record<string, unknown>;
  /** Returns an error message when another plugin file already uses `name`. */
  nameConflict(name: string, file: string): string | undefined;
  /** CPU time one batch may take, unless the manifest says otherwise. */
  budgetMs: number;
  setupTimeoutMs: number;
  /** Heap cap of a plugin process in MB, unless its section sets `memory_mb`. */
  memoryMb: number;
  /** Largest result a batch may return, in bytes. */
  maxResultBytes: number;
  /** Names no plugin may take (the built-in services). */
  reservedNames(): readonly string[];
  /** Paths no plugin may read or write (the control token's folder). */
  deny: string[];
  restartBackoff: { initialMs: number; maxMs: number };
  queueLimit: number;
  recentRows: number;
  sink: ResultSink;
  emit(event: PluginEvent): void;
  /** Called whenever queue room or idleness may have changed. */
  changed(): void;
}

/** Runs one plugin file; see the module documentation. */
export class PluginRunner {
  readonly file: string;
  #options: RunnerOptions;
  #state: PluginState = "starting";
  #description: PluginDescription | undefined;
  /** Outputs for the configuration, when the plugin's `outputsFor` reported them at setup. */
  #outputs: Record<string, OutputType> | undefined;
  #summary: SummaryAccumulator | undefined;
  #process: PluginProcess | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #generation = 0;
  #backoffMs: number;
  #queue: QueuedBatch[] = [];
  #inFlight: { batch: QueuedBatch; postedAt: number; cpuAtStart: number } | undefined;
  #pendingWrites = 0;
  #writes: Promise<void> = Promise.resolve();
  #loads = new Set<Promise<void>>();
  #settleSpawn: (() => void) | undefined;
  /** True from a process's start until its setup() is done. */
  #settingUp = false;
  #abortProbe: (() => void) | undefined;
  #stats = {
    batches: 0,
    rows: 0,
    errors: 0,
    dropped: 0,
    restarts: 0,
    totalMs: 0,
    failedAlerts: 0,
  };
  #lastFailedAlerts: { id: string; reason: string }[] = [];
  #batchSeconds = new Histogram(SHORT_SECONDS);
  #lastMs: number | null = null;
  #lastError: string | null = null;
  /** SHA-256 of the file at the last load, to ignore change events that changed nothing. */
  fingerprint = "";

  /** A runner for `file`; call {@link load} to start it. */
  constructor(file: string, options: RunnerOptions) {
    this.file = file;
    this.#options = options;
    this.#backoffMs = options.restartBackoff.initialMs;
  }

  /** The manifest name once loaded, else the file name without `.ts`. */
  get name(): string {
    return this.#description?.name ?? basename(this.file, ".ts");
  }

  /** The manifest name, once the file has loaded. */
  get manifestName(): string | undefined {
    return this.#description?.name;
  }

  /** Current state. */
  get state(): PluginState {
    return this.#state;
  }

  /** The columns the plugin asked for, or undefined for all. */
  get columns(): string[] | undefined {
    return this.#description?.columns;
  }

  /** The manifest's kind, once loaded. */
  get kind(): string | undefined {
    return this.#description?.kind;
  }

  /** Whether it takes batches (loaded, and starting, running or restarting). */
  get acceptsBatches(): boolean {
    return this.#description !== undefined &&
      (this.#state === "starting" || this.#state === "running" || this.#state === "restarting");
  }

  /** Whether its queue has room for another batch. */
  get hasRoom(): boolean {
    return this.#queue.length < this.#options.queueLimit;
  }

  /**
   * Whether it has written all it processed and, when running or starting, also
   * processed all it has queued. A restarting plugin may never recover, so what
   * it holds in its queue does not count.
   */
  get idle(): boolean {
    const progressing = this.#state === "running" || this.#state === "starting";
    return this.#pendingWrites === 0 &&
      (!progressing || (this.#queue.length === 0 && this.#inFlight === undefined));
  }

  /**
   * (Re)loads the file from scratch: module graph, manifest probe, sandboxed
   * process. With `run` false the manifest is only probed and the plugin stays
   * stopped; a `batch` plugin runs only when `run` is true, as it has no live flow.
   */
  load(run: boolean | "stream" = "stream"): Promise<void> {
    this.#halt();
    const generation = this.#generation;
    this.#state = "starting";
    this.#description = undefined;
    const loading = this.#load(generation, run);
    this.#loads.add(loading);
    return loading.finally(() => this.#loads.delete(loading));
  }

  /** Stops the process and drops its queue; {@link load} starts it again. */
  stop(): void {
    const wasStopped = this.#state === "stopped";
    this.#halt();
    this.#state = "stopped";
    if (!wasStopped) this.#emit("stopped", {});
    this.#options.changed();
  }

  /** Stops it and waits for its load and pending writes to settle. */
  async close(): Promise<void> {
    this.#halt();
    this.#state = "stopped";
    await Promise.all(this.#loads);
    await this.#writes;
  }

  /** Queues a batch; the caller checks {@link hasRoom} first. */
  enqueue(batch: QueuedBatch): void {
    this.#queue.push(batch);
    this.#pump();
  }

  /** Counts and reports a batch skipped because the queue was full. */
  skip(batch: Omit<QueuedBatch, "ipc">): void {
    this.#stats.dropped++;
    this.#emit("dropped", {
      message:
        `plugin ${this.name}: queue full (${this.#options.queueLimit} batches), batch skipped`,
      topic: batch.topic,
      partition: batch.partition,
      startOffset: String(batch.startOffset),
      endOffset: String(batch.endOffset),
    });
  }

  /** Status for `list()`. */
  status(): PluginStatus {
    const d = this.#description;
    return {
      name: this.name,
      description: d?.description ?? "",
      version: d?.version ?? "",
      kind: d?.kind ?? "",
      file: this.file,
      state: this.#state,
      permissions: d?.permissions ?? {},
      ...(d?.columns === undefined ? {} : { columns: d.columns }),
      batches: this.#stats.batches,
      rows: this.#stats.rows,
      errors: this.#stats.errors,
      dropped: this.#stats.dropped,
      lastError: this.#lastError,
      avgMsPerBatch: this.#stats.batches > 0 ? this.#stats.totalMs / this.#stats.batches : null,
      lastMsPerBatch: this.#lastMs,
      batchSeconds: this.#batchSeconds.snapshot(),
      restarts: this.#stats.restarts,
      failedAlerts: this.#stats.failedAlerts,
      lastFailedAlerts: [...this.#lastFailedAlerts],
      memoryMb: this.#memoryMb(),
    };
  }

  #memoryMb(): number {
    const own = this.#options.configFor(this.name).memory_mb;
    return typeof own === "number" && own > 0 ? own : this.#options.memoryMb;
  }

  /** Live summary of its results. */
  summary(): PluginSummary {
    return this.#summary?.snapshot(this.name) ?? { name: this.name, counts: {}, recent: [] };
  }

  async #load(generation: number, run: boolean | "stream"): Promise<void> {
    try {
      this.fingerprint = await fileFingerprint(this.file);
      const description = await this.#probe();
      if (generation !== this.#generation) return;
      checkName(description.name, this.#options.reservedNames());
      const conflict = this.#options.nameConflict(description.name, this.file);
      if (conflict !== undefined) throw new Error(conflict);
      checkConsent(description.name, description.permissions, {
        root: this.#options.root,
        allow: this.#options.configFor(description.name).allow,
      });
      this.#description = description;
      this.#outputs = undefined;
      this.#summary = new SummaryAccumulator(description.outputs, {
        recentRows: this.#options.recentRows,
        ranking: description.ranking,
      });
      this.#emit("loaded", { version: description.version, permissions: description.permissions });
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#state = "failed";
      this.#lastError = this.#loadFailure(error);
      this.#stats.errors++;
      this.#queue = [];
      this.#emit("failed", { message: this.#lastError });
      this.#options.changed();
      return;
    }
    if (run === false || (run === "stream" && this.#description.kind !== "stream")) {
      this.#state = "stopped";
      this.#queue = [];
      this.#options.changed();
      return;
    }
    await this.#spawn(generation);
  }

  #loadFailure(error: unknown): string {
    const message = error instanceof Error ? error.message : String(error);
    const denial = describeDenial(this.name, message);
    if (denial !== undefined) {
      return oneLine(
        `${denial}; module top-level code runs without permissions, do I/O in setup()`,
      );
    }
    return oneLine(`plugin ${this.name} failed to load: ${message}`);
  }

  #start(
    mode: "probe" | "run",
    permissions: PluginDescription["permissions"],
    handlers: {
      onMessage(message: WorkerMessage, payload: Uint8Array): void;
      onEnd(end: ProcessEnd): void;
    },
  ): PluginProcess {
    const memoryMb = this.#memoryMb();
    return PluginProcess.start({
      file: this.file,
      mode,
      cwd: this.#options.root,
      memoryMb,
      maxFrameBytes: this.#options.maxResultBytes,
      flags: processFlags(permissions, {
        root: this.#options.root,
        file: this.file,
        memoryMb,
        deny: this.#options.deny,
      }),
      onMessage: handlers.onMessage,
      onEnd: handlers.onEnd,
      onOversized: (bytes) => this.#oversized(`returned ${megabytes(bytes)} MB of results`),
      onStderr: (line) => this.#emit("log", { message: line, stream: "stderr" }),
    });
  }

  #oversized(what: string): void {
    const limit = Math.round(this.#options.maxResultBytes / 1_048_576);
    this.#crash(
      `plugin ${this.name}: ${what} for one batch, more than the limit of ${limit} MB ` +
        `(plugins.max_result_mb); its process was killed`,
    );
  }

  /** The manifest as the plugin's code reports it, run with no permission but its own code. */
  #probe(): Promise<PluginDescription> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let probe: PluginProcess | undefined;
    return new Promise<PluginDescription>((resolve, reject) => {
      this.#abortProbe = () => reject(new Error("Loading was stopped"));
      timer = setTimeout(
        () => reject(new Error(`Loading took longer than ${this.#options.setupTimeoutMs} ms`)),
        this.#options.setupTimeoutMs,
      );
      probe = this.#start("probe", {}, {
        onMessage(message) {
          if (message.type === "described") {
            try {
              definePlugin({ ...message.description, process: () => [] });
              resolve(describeManifest(message.description));
            } catch (error) {
              reject(error);
            }
          }
          if (message.type === "failed") reject(new Error(message.message));
        },
        onEnd(end) {
          reject(new Error(`its process ${end.cause} while loading`));
        },
      });
    }).finally(() => {
      this.#abortProbe = undefined;
      clearTimeout(timer);
      probe?.kill();
    });
  }

  async #spawn(generation: number): Promise<void> {
    if (generation !== this.#generation || this.#description === undefined) return;
    const description = this.#description;
    let started: PluginProcess;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#settleSpawn = resolve;
    try {
      started = this.#start("run", description.permissions, {
        onMessage: (message, payload) => {
          if (started === this.#process) this.#onMessage(message, payload);
        },
        onEnd: (end) => {
          if (started !== this.#process) return;
          const batch = this.#inFlight?.batch;
          const during = this.#settingUp
            ? " during setup()"
            : batch === undefined
            ? ""
            : ` while processing batch ${batch.topic}+${batch.partition}+${batch.startOffset}+` +
              `${batch.endOffset}`;
          const advice = end.cause.startsWith("reached its heap limit")
            ? `; set memory_mb under [plugins.${this.name}] to raise it`
            : "";
          this.#crash(`plugin ${this.name}: its process ${end.cause}${during}${advice}`);
        },
      });
    } catch (error) {
      this.#state = "failed";
      this.#lastError = `plugin ${this.name}: cannot start its process: ${
        (error as Error).message
      }`;
      this.#stats.errors++;
      this.#emit("failed", { message: this.#lastError });
      this.#settle();
      return;
    }
    this.#process = started;
    this.#settingUp = true;
    this.#timer = setTimeout(() => {
      this.#crash(
        `plugin ${this.name}: setup() took longer than ${this.#options.setupTimeoutMs} ms; ` +
          `its process was killed`,
      );
    }, this.#options.setupTimeoutMs);
    await promise;
  }

  #onMessage(message: WorkerMessage, payload: Uint8Array): void {
    switch (message.type) {
      case "described":
        if (
          JSON.stringify(describeManifest(message.description)) !==
            JSON.stringify(this.#description)
        ) {
          this.#halt();
          this.#state = "failed";
          this.#lastError = `plugin ${this.name}: the plugin file changed while it was being ` +
            `loaded; it will be reloaded`;
          this.#stats.errors++;
          this.#emit("failed", { message: this.#lastError });
          this.#options.changed();
          return;
        }
        this.#process?.send({
          type: "setup",
          config: this.#options.configFor(this.name),
          maxResultBytes: this.#options.maxResultBytes,
        });
        return;
      case "ready":
        clearTimeout(this.#timer);
        if (
          message.outputs !== undefined && this.#description !== undefined &&
          JSON.stringify(message.outputs) !== JSON.stringify(this.#outputs)
        ) {
          // Outputs that depend on the configuration (outputsFor), checked by the plugin process;
          // a restart with the same outputs keeps the live summary.
          this.#outputs = message.outputs;
          this.#summary = new SummaryAccumulator(message.outputs, {
            recentRows: this.#options.recentRows,
            ranking: this.#description.ranking,
          });
        }
        this.#settingUp = false;
        this.#state = "running";
        this.#settle();
        this.#emit("started", {});
        this.#options.changed();
        this.#pump();
        return;
      case "rows":
        this.#onRows(message.seq, payload, message.failures);
        return;
      case "failed":
        if (message.phase === "load") {
          this.#halt();
          this.#state = "failed";
          this.#settle();
          this.#lastError = this.#loadFailure(new Error(message.message));
          this.#stats.errors++;
          this.#emit("failed", { message: this.#lastError });
          this.#options.changed();
          return;
        }
        if (message.phase === "oversized") this.#oversized(String(message.message));
        else this.#crash(this.#failure(message.phase, message.errorName, message.message));
        return;
      case "log":
        this.#emit("log", { message: message.message, fields: message.fields });
        return;
    }
  }

  #failure(phase: string, errorName: string, message: string): string {
    const denial = describeDenial(this.name, message);
    if (denial !== undefined) return denial;
    const what = phase === "setup"
      ? "setup() threw"
      : phase === "output"
      ? "process() returned invalid rows"
      : "process() threw";
    return `plugin ${this.name}: ${what}: ${errorName}: ${message}`;
  }

  #pump(): void {
    const child = this.#process;
    if (
      this.#state !== "running" || child === undefined || this.#inFlight !== undefined ||
      this.#pendingWrites > 1 || this.#queue.length === 0
    ) {
      return;
    }
    const batch = this.#queue.shift()!;
    if (batch.ticket?.current() === false) {
      this.#options.changed();
      this.#pump();
      return;
    }
    const cpuAtStart = child.cpuMs() ?? 0;
    const postedAt = performance.now();
    this.#inFlight = { batch, postedAt, cpuAtStart };
    const budgetMs = this.#description?.budgetMs ?? this.#options.budgetMs;
    // The budget counts the plugin's own CPU time, so a busy neighbour cannot make it overrun;
    // the much larger wall-clock limit still ends a process that waits forever.
    const wallMs = Math.max(10 * budgetMs, 60_000);
    const name = `${batch.topic}+${batch.partition}+${batch.startOffset}+${batch.endOffset}`;
    this.#timer = setInterval(() => {
      const used = (child.cpuMs() ?? cpuAtStart) - cpuAtStart;
      if (used > budgetMs) {
        this.#crash(
          `plugin ${this.name}: batch ${name} exceeded its CPU budget of ${budgetMs} ms ` +
            `(${Math.round(used)} ms used); its process was killed`,
        );
      } else if (performance.now() - postedAt > wallMs) {
        this.#crash(
          `plugin ${this.name}: batch ${name} took longer than ${wallMs} ms of wall-clock time ` +
            `(${Math.round(used)} ms of CPU); its process was killed`,
        );
      }
    }, BUDGET_CHECK_MS);
    child.send({ type: "batch", seq: batch.seq }, new Uint8Array(batch.ipc));
    this.#options.changed();
  }

  #onRows(seq: number, payload: Uint8Array, failures: AlertFailure[]): void {
    const inFlight = this.#inFlight;
    if (inFlight === undefined || inFlight.batch.seq !== seq) return;
    clearInterval(this.#timer);
    const ms = performance.now() - inFlight.postedAt;
    const batch = inFlight.batch;
    const outputs = this.#outputs ?? this.#description!.outputs;
    let rows: PluginRow[];
    try {
      // Checked again: the plugin's code could write frames itself, bypassing the process's check.
      rows = checkRows(tableToRows(tableFromIPC(payload), outputs), outputs);
      rows.push(...this.#failedAlertRows(batch, failures));
    } catch (error) {
      this.#crash(
        `plugin ${this.name}: process() returned invalid rows: ${(error as Error).message}`,
      );
      return;
    }
    const eventHours: number[] = [];
    for (const row of rows) {
      const hour = batch.hourById.get(row.id);
      if (hour === undefined) {
        this.#crash(
          `plugin ${this.name}: process() returned id ${row.id}, which is not in the batch; ` +
            `return the ids of the alerts it was given`,
        );
        return;
      }
      eventHours.push(hour);
    }
    this.#inFlight = undefined;
    this.#backoffMs = this.#options.restartBackoff.initialMs;
    this.#stats.batches++;
    this.#stats.rows += rows.length;
    this.#stats.totalMs += ms;
    this.#batchSeconds.observe(ms / 1000);
    this.#lastMs = ms;
    this.#summary?.add(rows, batch.objectById);
    this.#pendingWrites++;
    const meta = {
      topic: batch.topic,
      partition: batch.partition,
      startOffset: batch.startOffset,
      endOffset: batch.endOffset,
      outputs: this.#outputs ?? this.#description!.outputs,
      eventHours,
      sources: batch.sources,
      replaces: batch.replaces,
    };
    this.#writes = this.#writes
      .then(async () => {
        await this.#options.sink.write(this.name, rows, meta, batch.ticket?.publisher);
        await batch.ticket?.written();
      })
      .then(
        () =>
          this.#emit("batch", {
            seq,
            rows: rows.length,
            ms,
            topic: batch.topic,
            partition: batch.partition,
            startOffset: String(batch.startOffset),
            endOffset: String(batch.endOffset),
          }),
        (error) => {
          this.#stats.errors++;
          this.#lastError = `plugin ${this.name}: writing results failed: ${
            (error as Error).message
          }`;
          this.#emit("sink_error", { message: this.#lastError, seq });
        },
      )
      .finally(() => {
        this.#pendingWrites--;
        this.#options.changed();
        this.#pump();
      });
    this.#options.changed();
    this.#pump();
  }

  /** Null rows for the alerts `process` could not handle, counted with their reasons. */
  #failedAlertRows(batch: QueuedBatch, failures: AlertFailure[]): PluginRow[] {
    if (!Array.isArray(failures)) throw new Error("the failed alerts are not a list");
    const nulls = Object.fromEntries(
      Object.keys(this.#outputs ?? this.#description!.outputs).map((c) => [c, null]),
    );
    return failures.map((failure) => {
      const id = batch.ids[failure.row];
      if (!Number.isInteger(failure.row) || id === undefined) {
        throw new Error(`failed alert row ${failure.row} is not in the batch`);
      }
      const reason = oneLine(String(failure.reason));
      this.#stats.failedAlerts++;
      this.#lastFailedAlerts = [...this.#lastFailedAlerts, { id: String(id), reason }]
        .slice(-RECENT_FAILURES);
      return { id, ...nulls };
    });
  }

  /** Kills the process after a failure and schedules a restart with backoff. */
  #crash(message: string): void {
    const generation = this.#generation;
    const failed = this.#inFlight?.batch;
    this.#terminate();
    this.#inFlight = undefined;
    this.#stats.errors++;
    this.#lastError = oneLine(message);
    this.#emit("error", {
      message,
      ...(failed === undefined ? {} : {
        topic: failed.topic,
        partition: failed.partition,
        startOffset: String(failed.startOffset),
        endOffset: String(failed.endOffset),
      }),
    });
    const delayMs = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.restartBackoff.maxMs);
    this.#stats.restarts++;
    this.#state = "restarting";
    this.#emit("restarting", { delayMs, restarts: this.#stats.restarts });
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#spawn(generation);
    }, delayMs);
    this.#settle();
    this.#options.changed();
  }

  #settle(): void {
    this.#settleSpawn?.();
    this.#settleSpawn = undefined;
  }

  #terminate(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#process?.kill();
    this.#process = undefined;
  }

  /** Ends everything in progress; later callbacks of older generations are ignored. */
  #halt(): void {
    this.#generation++;
    this.#terminate();
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    this.#inFlight = undefined;
    this.#queue = [];
    this.#settle();
    this.#abortProbe?.();
  }

  #emit(event: PluginEvent["event"], fields: Record<string, unknown>): void {
    this.#options.emit({ event, plugin: this.name, file: this.file, ...fields });
  }
}

/** An error text as the API shows it: its first line, at most 500 characters. */
function oneLine(text: string): string {
  const line = text.split("\n")[0];
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}

/** SHA-256 of a file's content, hex. */
export async function fileFingerprint(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

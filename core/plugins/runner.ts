/**
 * One plugin file's life, as the states and transitions of lifecycle.ts: probe
 * its manifest (probe.ts), check its name and the operator's consent, start
 * the sandboxed process (process.ts), send it one batch at a time from its
 * queue (batch_queue.ts) under a CPU budget (cpu_budget.ts), check the rows
 * that come back (returned_rows.ts) and hand them to the result writer
 * (result_writer.ts), and restart it with backoff (restart_backoff.ts) after
 * any failure, worded by failure_text.ts.
 */
import { basename } from "node:path";
import { BatchQueue, type QueuedBatch } from "./batch_queue.ts";
import { checkConsent, checkName } from "./consent.ts";
import { watchBudget } from "./cpu_budget.ts";
import type { OutputType, PluginConfig } from "./define.ts";
import {
  loadFailureText,
  manifestChangedText,
  oneLine,
  overrunText,
  oversizedText,
  processEndText,
  processFailureText,
  setupTimeoutText,
  spawnFailureText,
} from "./failure_text.ts";
import { megabytes } from "./frames.ts";
import {
  dropsQueue,
  hasProcess,
  type Phase,
  type PluginState,
  pluginState,
  type Probing,
  type Processing,
  progressing,
  type SettingUp,
  takesBatches,
} from "./lifecycle.ts";
import { type PluginCounts, PluginStats } from "./plugin_stats.ts";
import { type ProbeHandlers, probeManifest } from "./probe.ts";
import { PluginProcess } from "./process.ts";
import {
  type AlertFailure,
  describeManifest,
  type PluginDescription,
  type WorkerMessage,
} from "./protocol.ts";
import { RestartBackoff } from "./restart_backoff.ts";
import { ResultWriter } from "./result_writer.ts";
import { type BatchRows, returnedRows } from "./returned_rows.ts";
import type { ResultSink } from "./results.ts";
import { processFlags } from "./sandbox.ts";
import { type PluginSummary, SummaryAccumulator } from "./summary.ts";

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
  /** The batch an `error` event failed on, when the plugin was processing one. */
  topic?: string;
  partition?: number;
  startOffset?: string;
  endOffset?: string;
  [field: string]: unknown;
}

/** Status of one plugin as shown by `list()`. */
export interface PluginStatus extends PluginCounts {
  name: string;
  description: string;
  version: string;
  kind: string;
  file: string;
  state: PluginState;
  permissions: PluginDescription["permissions"];
  /** The columns it reads, when it declares them. */
  columns?: string[];
  /** A filter's science inputs. */
  science?: string[];
  lastError: string | null;
  /** Heap cap of its process, in MB. */
  memoryMb: number;
}

/** Settings a runner gets from its host. */
export interface RunnerOptions {
  root: string;
  configFor(name: string): PluginConfig;
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
  /** SHA-256 of the file at the last load, to ignore change events that changed nothing. */
  fingerprint = "";
  #options: RunnerOptions;
  /** Where it is in its life; only {@link #enter} changes it. */
  #phase: Phase = { name: "probing", abort: () => {} };
  /** The manifest, from a successful probe until the next load. */
  #description: PluginDescription | undefined;
  /** Outputs for the configuration, when the plugin's `outputsFor` reported them at setup. */
  #outputs: Record<string, OutputType> | undefined;
  #summary: SummaryAccumulator | undefined;
  #queue: BatchQueue;
  #writer: ResultWriter;
  #backoff: RestartBackoff;
  #loads = new Set<Promise<void>>();
  /** Resolves the load waiting for its process to run or fail. */
  #settleLoad: (() => void) | undefined;
  #stats = new PluginStats();
  #lastError: string | null = null;

  /** A runner for `file`; call {@link load} to start it. */
  constructor(file: string, options: RunnerOptions) {
    this.file = file;
    this.#options = options;
    this.#queue = new BatchQueue(options.queueLimit);
    this.#backoff = new RestartBackoff(options.restartBackoff);
    this.#writer = new ResultWriter({
      sink: options.sink,
      settled: () => {
        this.#options.changed();
        this.#sendNext();
      },
    });
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
    return pluginState(this.#phase);
  }

  /** The columns the plugin asked for, or undefined for all. */
  get columns(): string[] | undefined {
    return this.#description?.columns;
  }

  /** A filter's science inputs, sent as columns beside those it asked for. */
  get science(): string[] | undefined {
    return this.#description?.science;
  }

  /** The manifest's kind, once loaded. */
  get kind(): string | undefined {
    return this.#description?.kind;
  }

  /** Whether it takes batches (loaded, and starting, running or restarting). */
  get acceptsBatches(): boolean {
    return this.#description !== undefined && takesBatches(this.#phase);
  }

  /** Whether its queue has room for another batch. */
  get hasRoom(): boolean {
    return this.#queue.hasRoom;
  }

  /**
   * Whether it has written all it processed and, when running or starting, also
   * processed all it has queued. A restarting plugin may never recover, so what
   * it holds in its queue does not count.
   */
  get idle(): boolean {
    return this.#writer.pending === 0 &&
      (!progressing(this.#phase) ||
        (this.#queue.size === 0 && this.#phase.name !== "processing"));
  }

  /**
   * (Re)loads the file from scratch: module graph, manifest probe, sandboxed
   * process. With `run` false the manifest is only probed and the plugin stays
   * stopped; a `batch` plugin runs only when `run` is true, as it has no live flow.
   */
  load(run: boolean | "stream" = "stream"): Promise<void> {
    const probing: Probing = { name: "probing", abort: () => {} };
    this.#enter(probing);
    this.#description = undefined;
    const loading = this.#load(probing, run);
    this.#loads.add(loading);
    return loading.finally(() => this.#loads.delete(loading));
  }

  /** Stops the process and drops its queue; {@link load} starts it again. */
  stop(): void {
    const wasStopped = this.#phase.name === "stopped";
    this.#enter({ name: "stopped" });
    if (!wasStopped) this.#emit("stopped", {});
    this.#options.changed();
  }

  /** Resolves once every result write queued so far has settled (written or failed). */
  written(): Promise<void> {
    return this.#writer.drained();
  }

  /** Stops it and waits for its load and pending writes to settle. */
  async close(): Promise<void> {
    this.#enter({ name: "stopped" });
    await Promise.all(this.#loads);
    await this.#writer.drained();
  }

  /** Queues a batch; the caller checks {@link hasRoom} first. */
  enqueue(batch: QueuedBatch): void {
    this.#queue.push(batch);
    this.#sendNext();
  }

  /** Counts and reports a batch skipped because the queue was full. */
  skip(batch: Omit<QueuedBatch, "ipc">): void {
    this.#stats.dropped++;
    this.#emit("dropped", {
      message: `plugin ${this.name}: queue full (${this.#queue.limit} batches), batch skipped`,
      ...batchFields(batch),
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
      state: this.state,
      permissions: d?.permissions ?? {},
      ...(d?.columns === undefined ? {} : { columns: d.columns }),
      ...(d?.science === undefined ? {} : { science: d.science }),
      ...this.#stats.snapshot(),
      lastError: this.#lastError,
      memoryMb: this.#memoryMb(),
    };
  }

  /** Live summary of its results. */
  summary(): PluginSummary {
    return this.#summary?.snapshot(this.name) ?? { name: this.name, counts: {}, recent: [] };
  }

  // Transitions (see lifecycle.ts for the table).

  /**
   * The only place the phase changes. What the phase left held ends with it
   * (probe, setup deadline, budget watch, restart timer, and the process unless
   * the next phase carries it on); a load waiting for its process is settled
   * once that process runs or failed; the queue is emptied where it would never
   * be processed.
   */
  #enter(next: Phase): void {
    const left = this.#phase;
    this.#phase = next;
    if (left.name === "probing") left.abort();
    if (left.name === "settingUp") clearTimeout(left.deadline);
    if (left.name === "processing") left.watch.stop();
    if (left.name === "restarting") clearTimeout(left.timer);
    if (hasProcess(left) && !(hasProcess(next) && next.process === left.process)) {
      left.process.kill();
    }
    if (next.name !== "settingUp") {
      this.#settleLoad?.();
      this.#settleLoad = undefined;
    }
    if (dropsQueue(next)) this.#queue.clear();
  }

  /** probing → settingUp, stopped or failed. */
  async #load(probing: Probing, run: boolean | "stream"): Promise<void> {
    const current = () => this.#phase === probing;
    let description: PluginDescription;
    try {
      this.fingerprint = await fileFingerprint(this.file);
      if (!current()) return;
      const probe = probeManifest({
        start: (handlers) => this.#start("probe", {}, handlers),
        timeoutMs: this.#options.setupTimeoutMs,
      });
      probing.abort = probe.abort;
      description = await probe.manifest;
      if (!current()) return;
      checkName(description.name, this.#options.reservedNames());
      const conflict = this.#options.nameConflict(description.name, this.file);
      if (conflict !== undefined) throw new Error(conflict);
      checkConsent(description.name, description.permissions, {
        root: this.#options.root,
        allow: this.#options.configFor(description.name).allow,
      });
    } catch (error) {
      if (current()) this.#fail(loadFailureText(this.name, error));
      return;
    }
    this.#description = description;
    this.#outputs = undefined;
    this.#summary = new SummaryAccumulator(description.outputs, {
      recentRows: this.#options.recentRows,
      ranking: description.ranking,
    });
    this.#emit("loaded", { version: description.version, permissions: description.permissions });
    // Filters run live like stream plugins; batch plugins only when started.
    if (run === false || (run === "stream" && description.kind === "batch")) {
      this.#enter({ name: "stopped" });
      this.#options.changed();
      return;
    }
    await this.#spawn();
  }

  /**
   * probing or restarting → settingUp (or failed when the process cannot start);
   * resolves once the process runs or failed.
   */
  #spawn(): Promise<void> {
    let child: PluginProcess;
    try {
      child = this.#start("run", this.#description!.permissions, {
        onMessage: (message, payload) => {
          if (this.#runs(child)) this.#onMessage(message, payload);
        },
        onEnd: (end) => {
          const phase = this.#phase;
          if (!this.#runs(child)) return;
          this.#crash(processEndText(this.name, end, {
            settingUp: phase.name === "settingUp",
            batch: phase.name === "processing" ? phase.batch : undefined,
          }));
        },
        onOversized: (bytes) => {
          if (this.#runs(child)) this.#oversized(`returned ${megabytes(bytes)} MB of results`);
        },
      });
    } catch (error) {
      this.#fail(spawnFailureText(this.name, error));
      return Promise.resolve();
    }
    const deadline = setTimeout(
      () => this.#crash(setupTimeoutText(this.name, this.#options.setupTimeoutMs)),
      this.#options.setupTimeoutMs,
    );
    this.#enter({ name: "settingUp", process: child, deadline });
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#settleLoad = resolve;
    return promise;
  }

  /** What the process says, taken only in the phase it belongs to: frames are not trusted. */
  #onMessage(message: WorkerMessage, payload: Uint8Array): void {
    const phase = this.#phase;
    switch (message.type) {
      case "described":
        if (phase.name === "settingUp") this.#described(phase, message.description);
        return;
      case "ready":
        if (phase.name === "settingUp") this.#ready(phase, message.outputs);
        return;
      case "rows":
        if (phase.name === "processing" && phase.batch.seq === message.seq) {
          this.#rows(phase, payload, message.failures);
        }
        return;
      case "failed":
        if (message.phase === "load") {
          this.#fail(loadFailureText(this.name, new Error(message.message)));
        } else if (message.phase === "oversized") this.#oversized(String(message.message));
        else this.#crash(processFailureText(this.name, message));
        return;
      case "log":
        this.#emit("log", { message: message.message, fields: message.fields });
        return;
    }
  }

  /** settingUp: the process reports the manifest; anything but the probed one → failed. */
  #described(phase: SettingUp, description: PluginDescription): void {
    if (JSON.stringify(describeManifest(description)) !== JSON.stringify(this.#description)) {
      this.#fail(manifestChangedText(this.name));
      return;
    }
    phase.process.send({
      type: "setup",
      config: this.#options.configFor(this.name),
      maxResultBytes: this.#options.maxResultBytes,
    });
  }

  /** settingUp → waiting: `setup()` is done. */
  #ready(phase: SettingUp, outputs: Record<string, OutputType> | undefined): void {
    if (
      outputs !== undefined && this.#description !== undefined &&
      JSON.stringify(outputs) !== JSON.stringify(this.#outputs)
    ) {
      // Outputs that depend on the configuration (outputsFor), checked by the plugin process;
      // a restart with the same outputs keeps the live summary.
      this.#outputs = outputs;
      this.#summary = new SummaryAccumulator(outputs, {
        recentRows: this.#options.recentRows,
        ranking: this.#description.ranking,
      });
    }
    this.#enter({ name: "waiting", process: phase.process });
    this.#emit("started", {});
    this.#options.changed();
    this.#sendNext();
  }

  /**
   * waiting → processing, with the oldest wanted batch of the queue. At most
   * one write may be pending meanwhile: results are not left to pile up.
   */
  #sendNext(): void {
    const phase = this.#phase;
    if (phase.name !== "waiting" || this.#writer.pending > 1 || this.#queue.size === 0) return;
    const batch = this.#queue.take();
    if (batch === undefined) {
      this.#options.changed();
      return;
    }
    const watch = watchBudget(phase.process, {
      budgetMs: this.#description?.budgetMs ?? this.#options.budgetMs,
      onOverrun: (overrun) => this.#crash(overrunText(this.name, batch, overrun)),
    });
    this.#enter({
      name: "processing",
      process: phase.process,
      batch,
      sentAt: performance.now(),
      watch,
    });
    phase.process.send({ type: "batch", seq: batch.seq }, new Uint8Array(batch.ipc));
    this.#options.changed();
  }

  /**
   * processing → waiting with the batch's rows handed to the writer (for the
   * result sink, or the batch's ticket when it takes them), or → restarting.
   */
  #rows(phase: Processing, payload: Uint8Array, failures: AlertFailure[]): void {
    const ms = performance.now() - phase.sentAt;
    const { batch } = phase;
    const outputs = this.#outputs ?? this.#description!.outputs;
    let checked: BatchRows;
    try {
      checked = returnedRows(payload, { batch, failures, outputs });
    } catch (error) {
      this.#crash(`plugin ${this.name}: ${(error as Error).message}`);
      return;
    }
    this.#enter({ name: "waiting", process: phase.process });
    this.#backoff.reset();
    const rows = this.#writer.write({
      plugin: this.name,
      rows: checked,
      meta: {
        topic: batch.topic,
        partition: batch.partition,
        startOffset: batch.startOffset,
        endOffset: batch.endOffset,
        outputs,
        sources: batch.sources,
        replaces: batch.replaces,
      },
      ticket: batch.ticket,
      written: () =>
        this.#emit("batch", { seq: batch.seq, rows: rows.length, ms, ...batchFields(batch) }),
      failed: (error) => {
        // No longer wanted (its feed moved on: ownership changed, the plugin restarted): the
        // batch is read again where the feed resumes, so this is not the plugin's failure.
        if (batch.ticket?.current() === false) return;
        this.#stats.errors++;
        this.#lastError = `plugin ${this.name}: writing results failed: ${error.message}`;
        this.#emit("sink_error", { message: this.#lastError, seq: batch.seq });
      },
    });
    this.#stats.batchDone(rows.length, ms, checked.failed);
    this.#summary?.add(rows, batch.objectById);
    this.#options.changed();
    this.#sendNext();
  }

  /** settingUp, waiting or processing → restarting: the process is killed, a new one follows. */
  #crash(message: string): void {
    const phase = this.#phase;
    const failed = phase.name === "processing" ? phase.batch : undefined;
    const delayMs = this.#backoff.next();
    this.#enter({ name: "restarting", timer: setTimeout(() => this.#spawn(), delayMs) });
    this.#stats.errors++;
    this.#lastError = oneLine(message);
    this.#emit("error", { message, ...(failed === undefined ? {} : batchFields(failed)) });
    this.#stats.restarts++;
    this.#emit("restarting", { delayMs, restarts: this.#stats.restarts });
    this.#options.changed();
  }

  /** → failed: refused or broken at load; only a new load gets it out. */
  #fail(message: string): void {
    this.#enter({ name: "failed" });
    this.#lastError = oneLine(message);
    this.#stats.errors++;
    this.#emit("failed", { message: this.#lastError });
    this.#options.changed();
  }

  #oversized(what: string): void {
    this.#crash(oversizedText(this.name, what, this.#options.maxResultBytes));
  }

  // Helpers of the transitions.

  /** Whether `child` is the process of the current phase (callbacks of older ones are ignored). */
  #runs(child: PluginProcess): boolean {
    return hasProcess(this.#phase) && this.#phase.process === child;
  }

  #start(
    mode: "probe" | "run",
    permissions: PluginDescription["permissions"],
    handlers: ProbeHandlers,
  ): PluginProcess {
    const memoryMb = this.#memoryMb();
    return PluginProcess.start({
      ...handlers,
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
      onStderr: (line) => this.#emit("log", { message: line, stream: "stderr" }),
    });
  }

  #memoryMb(): number {
    const own = this.#options.configFor(this.name).memory_mb;
    return typeof own === "number" && own > 0 ? own : this.#options.memoryMb;
  }

  #emit(event: PluginEvent["event"], fields: Record<string, unknown>): void {
    this.#options.emit({ event, plugin: this.name, file: this.file, ...fields });
  }
}

/** A batch's offsets as event fields. */
function batchFields(
  batch: Omit<QueuedBatch, "ipc">,
): Pick<PluginEvent, "topic" | "partition" | "startOffset" | "endOffset"> {
  return {
    topic: batch.topic,
    partition: batch.partition,
    startOffset: String(batch.startOffset),
    endOffset: String(batch.endOffset),
  };
}

/** SHA-256 of a file's content, hex. */
export async function fileFingerprint(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

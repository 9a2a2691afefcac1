/**
 * The bounded queue of batches waiting for one plugin, and the ticket by which
 * whoever fed a batch follows it. The queue never blocks: the host checks
 * {@link BatchQueue.hasRoom} and skips (or the feed catches up later) when it
 * is full. A batch whose ticket is no longer current leaves the queue
 * unprocessed.
 */
import type { PluginRow } from "./define.ts";
import type { ResultPublisher, ResultReplace, ResultSource } from "./results.ts";
import type { FailedAlert } from "./returned_rows.ts";

/**
 * How whoever fed a batch follows it: the archive feed uses it to drop batches
 * it will feed again (after a failure) and to record progress once results are
 * durable; the distribution takes a filter's rows with it (result_writer.ts).
 */
export interface BatchTicket {
  /** False once the batch is no longer wanted; it is then dropped unprocessed. */
  current(): boolean;
  /** How its results become visible (with the feed's progress); default: renamed in place. */
  publisher?: ResultPublisher;
  /** Runs after the batch's results are durable, in the order batches were queued. */
  written(): Promise<void>;
  /**
   * When given, the rows go here instead of the result sink (a filter's verdicts go to the
   * distribution): those `process` returned and the alerts it threw on (with no row).
   */
  deliver?(rows: PluginRow[], failed: FailedAlert[]): Promise<void>;
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

/** Batches waiting for one plugin, oldest first, at most `limit`. */
export class BatchQueue {
  readonly limit: number;
  #batches: QueuedBatch[] = [];

  /** An empty queue holding at most `limit` batches. */
  constructor(limit: number) {
    this.limit = limit;
  }

  /** Batches waiting. */
  get size(): number {
    return this.#batches.length;
  }

  /** Whether another batch fits. */
  get hasRoom(): boolean {
    return this.#batches.length < this.limit;
  }

  /** Adds a batch at the end; the caller checks {@link hasRoom} first. */
  push(batch: QueuedBatch): void {
    this.#batches.push(batch);
  }

  /** The oldest batch still wanted, dropping the stale ones before it; undefined when none. */
  take(): QueuedBatch | undefined {
    for (;;) {
      const batch = this.#batches.shift();
      if (batch === undefined || batch.ticket?.current() !== false) return batch;
    }
  }

  /** Drops every waiting batch (the plugin stopped, failed or reloads). */
  clear(): void {
    this.#batches = [];
  }
}

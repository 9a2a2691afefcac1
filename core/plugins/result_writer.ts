/**
 * Writes one plugin's checked rows to the result sink, one batch after the
 * other in the order they were processed, and runs each batch's ticket once
 * its rows are durable. This order is what the stream feed's progress relies
 * on: the progress a ticket records never runs ahead of the results before it.
 * A failed write does not stop the ones after it; whoever fed the batch hears
 * of it and feeds it again.
 */
import type { BatchTicket } from "./batch_queue.ts";
import type { PluginRow } from "./define.ts";
import type { ResultBatchMeta, ResultSink } from "./results.ts";

/** One batch's rows to write, and who hears how it went. */
export interface ResultWrite {
  plugin: string;
  rows: PluginRow[];
  meta: ResultBatchMeta;
  ticket?: BatchTicket;
  /** The rows are durable and the ticket has run. */
  written(): void;
  /** The sink or the ticket failed. */
  failed(error: Error): void;
}

/** Options of {@link ResultWriter}. */
export interface ResultWriterOptions {
  sink: ResultSink;
  /** Called after each write settled, when {@link ResultWriter.pending} went down. */
  settled(): void;
}

/** The writes of one plugin, in order; see the module documentation. */
export class ResultWriter {
  #options: ResultWriterOptions;
  #chain: Promise<void> = Promise.resolve();
  #pending = 0;

  /** A writer with nothing pending. */
  constructor(options: ResultWriterOptions) {
    this.#options = options;
  }

  /** Writes queued and not yet settled. */
  get pending(): number {
    return this.#pending;
  }

  /** Queues a write after the ones already queued. */
  write(job: ResultWrite): void {
    this.#pending++;
    this.#chain = this.#chain
      .then(async () => {
        let error: Error | undefined;
        try {
          await this.#options.sink.write(job.plugin, job.rows, job.meta);
          await job.ticket?.written();
        } catch (e) {
          error = e instanceof Error ? e : new Error(String(e));
        }
        if (error === undefined) job.written();
        else job.failed(error);
      })
      // A listener's mistake must not stop the writes queued after this one.
      .catch(() => {})
      .finally(() => {
        this.#pending--;
        this.#options.settled();
      });
  }

  /** Resolves once every write queued so far has settled. */
  drained(): Promise<void> {
    return this.#chain;
  }
}

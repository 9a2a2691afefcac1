/**
 * Hands one plugin's checked rows over, one batch after the other in the order
 * they were processed, and runs each batch's ticket once they are durable. The
 * rows go to the batch's ticket when it takes them (`deliver`: a filter's
 * verdicts, for the distribution), else to the result sink, where each alert
 * `process` threw on gets a row of nulls. This order is what the stream feed's
 * progress relies on: the progress a ticket records never runs ahead of the
 * results before it. A failed write does not stop the ones after it; whoever
 * fed the batch hears of it and feeds it again.
 */
import type { BatchTicket } from "./batch_queue.ts";
import type { PluginRow } from "./define.ts";
import type { ResultBatchMeta, ResultSink } from "./results.ts";
import { type BatchRows, resultRows } from "./returned_rows.ts";

/** One batch's rows to hand over, and who hears how it went. */
export interface ResultWrite {
  plugin: string;
  rows: BatchRows;
  /** The batch as the sink names its files; the event hours come with the rows. */
  meta: Omit<ResultBatchMeta, "eventHours">;
  ticket?: BatchTicket;
  /** The rows are durable (or taken by the ticket) and the ticket has run. */
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

  /**
   * Queues a write after the ones already queued; returns the rows it hands
   * over (the sink's include the null rows of the failed alerts).
   */
  write(job: ResultWrite): PluginRow[] {
    const ticket = job.ticket;
    const rows = ticket?.deliver === undefined
      ? resultRows(job.rows, job.meta.outputs)
      : job.rows.rows;
    this.#pending++;
    this.#chain = this.#chain
      .then(async () => {
        let error: Error | undefined;
        try {
          if (ticket?.deliver === undefined) {
            await this.#options.sink.write(job.plugin, rows, {
              ...job.meta,
              eventHours: job.rows.eventHours,
            }, ticket?.publisher);
          } else await ticket.deliver(rows, job.rows.failed);
          await ticket?.written();
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
    return rows;
  }

  /** Resolves once every write queued so far has settled. */
  drained(): Promise<void> {
    return this.#chain;
  }
}

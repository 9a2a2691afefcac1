/**
 * What one plugin has done since its runner was made, for its status: batches
 * and rows written, errors, skipped batches, restarts, time per batch, and the
 * alerts `process` could not handle. Counts survive restarts and reloads.
 */
import { Histogram, type HistogramSnapshot, SHORT_SECONDS } from "../histogram.ts";
import type { FailedAlert } from "./returned_rows.ts";

/** Failed alerts kept per plugin, with their reasons, for its status. */
const RECENT_FAILURES = 5;

/** The counts as `list()` shows them (part of the runner's PluginStatus). */
export interface PluginCounts {
  batches: number;
  rows: number;
  errors: number;
  dropped: number;
  avgMsPerBatch: number | null;
  lastMsPerBatch: number | null;
  /** Time each batch took, from sending it to the plugin process to its rows coming back. */
  batchSeconds: HistogramSnapshot;
  restarts: number;
  /** Alerts `process` could not handle: they got null outputs (a filter's do not pass). */
  failedAlerts: number;
  /** The last of those alerts, with the reason. */
  lastFailedAlerts: { id: string; reason: string }[];
}

/** The counts of one plugin; see the module documentation. */
export class PluginStats {
  batches = 0;
  rows = 0;
  errors = 0;
  dropped = 0;
  restarts = 0;
  #totalMs = 0;
  #lastMs: number | null = null;
  #batchSeconds = new Histogram(SHORT_SECONDS);
  #failedAlerts = 0;
  #lastFailedAlerts: { id: string; reason: string }[] = [];

  /** A batch's `rows` came back after `ms`, with the alerts `process` threw on. */
  batchDone(rows: number, ms: number, failedAlerts: FailedAlert[]): void {
    this.batches++;
    this.rows += rows;
    this.#totalMs += ms;
    this.#lastMs = ms;
    this.#batchSeconds.observe(ms / 1000);
    this.#failedAlerts += failedAlerts.length;
    this.#lastFailedAlerts = [
      ...this.#lastFailedAlerts,
      ...failedAlerts.map(({ id, reason }) => ({ id: String(id), reason })),
    ].slice(-RECENT_FAILURES);
  }

  /** The counts now. */
  snapshot(): PluginCounts {
    return {
      batches: this.batches,
      rows: this.rows,
      errors: this.errors,
      dropped: this.dropped,
      avgMsPerBatch: this.batches > 0 ? this.#totalMs / this.batches : null,
      lastMsPerBatch: this.#lastMs,
      batchSeconds: this.#batchSeconds.snapshot(),
      restarts: this.restarts,
      failedAlerts: this.#failedAlerts,
      lastFailedAlerts: [...this.#lastFailedAlerts],
    };
  }
}

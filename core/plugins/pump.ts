/**
 * The one loop that hands a plugin archived files: read each file's batches,
 * wait for room in the plugin's queue, dispatch. The stream feed's catch-up
 * (feed.ts) and the runs over archived hours (hour_runs.ts) both use it; they
 * differ only in what they list, how they dispatch and when they stop.
 */
import type { ArchivedFile } from "../archive/reader.ts";
import type { Storage } from "../storage/storage.ts";
import { fileBatches, siblings } from "./archive_batches.ts";
import type { PluginBatch } from "./host.ts";

/** Where a batch lies in the pump's work. */
export interface PumpPosition {
  /** Index of its file in `files`. */
  file: number;
  /** Index of the batch in its file. */
  batch: number;
  /** Batches of its file. */
  batches: number;
}

/** Options of {@link pumpFiles}. */
export interface PumpOptions {
  archive: Storage;
  /** Files to read, in order. */
  files: ArchivedFile[];
  /** Every file of the partition or hour they come from (results of siblings are kept). */
  all: ArchivedFile[];
  /** Columns the plugin reads, or undefined for all. */
  columns?: string[];
  /** Rows per batch at most. */
  chunkRows: number;
  /** True once the pump must stop (the plugin failed or stopped, the caller moved on). */
  stale(): boolean;
  /** Queues a batch for the plugin; false when its queue had no room. */
  send(batch: PluginBatch, at: PumpPosition): boolean;
  /** Resolves when the plugin may have room again; false stops the pump. */
  room(): Promise<boolean>;
  /** Called once every batch of file `file` is queued. */
  queued?(file: number, batches: number): void;
}

/**
 * Reads and queues every batch of `files` in order, waiting for room as needed.
 * Resolves true when all were queued, false when it stopped first.
 *
 * @throws StorageNotFoundError when a file disappeared since it was listed (compaction)
 */
export async function pumpFiles(options: PumpOptions): Promise<boolean> {
  for (const [i, file] of options.files.entries()) {
    if (options.stale()) return false;
    const batches = await fileBatches(options.archive, file, {
      columns: options.columns,
      chunkRows: options.chunkRows,
      keep: siblings(options.all, file),
    });
    for (const [j, batch] of batches.entries()) {
      const at = { file: i, batch: j, batches: batches.length };
      for (;;) {
        if (options.stale()) return false;
        if (options.send(batch, at)) break;
        if (!(await options.room())) return false;
      }
    }
    if (options.stale()) return false;
    options.queued?.(i, batches.length);
  }
  return true;
}

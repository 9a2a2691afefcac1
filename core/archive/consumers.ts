/**
 * What the archive hands on, and to whom. Every batch the archive commits
 * (files renamed into place, offset durable) goes, in commit order per
 * partition, to each of its consumers: the plugin bus (core/plugins/bus.ts,
 * which reads the batch's files back for the stream plugins) and the
 * distribution (core/distribution/service.ts, woken to publish it; it keeps
 * the files' bytes when the archive is not on local disk). The
 * process gives the archive its consumers (core/process/service_catalog.ts);
 * the archive never waits on what they do with a batch, and a consumer's
 * failure never undoes a commit.
 */
import type { WrittenFile } from "./batch_writer.ts";

/** A batch the archive has just made durable. */
export interface ArchivedBatch {
  topic: string;
  partition: number;
  /** First and last offset of the batch (quarantined messages included). */
  startOffset: bigint;
  endOffset: bigint;
  /** Its Parquet files, paths relative to `archive.root`. */
  files: WrittenFile[];
}

/** Something downstream of the archive that takes each committed batch. */
export interface ArchiveConsumer {
  /** Names it in the archive's errors and logs (`plugins`, `distribute`). */
  readonly name: string;
  /** Takes a committed batch; awaited, so it returns quickly (queue the work, do not do it). */
  onArchived(batch: ArchivedBatch): Promise<void> | void;
}

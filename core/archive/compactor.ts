/**
 * Compacts closed hours: the small files one partition wrote into an hour are
 * merged into files of about the target size, named by the offset range they
 * cover, so exactly-once survives compaction. Only the partition's owner
 * merges its files, and every step is a record of the partition's ledger
 * (ledger.ts), so a process that lost the partition cannot touch them.
 *
 * The commit protocol lets readers that list the folder themselves (DuckDB or
 * Spark over a glob, an HDFS copy) never fail and never count an alert twice
 * or not at all, when they read the files their listing does not show
 * superseded within the grace period (see README.md beside this file):
 *
 * 1. the output is written under the ledger session's staging folder
 *    (`_staging/`, which no reader lists);
 * 2. the merge commits as the partition's next ledger record (it fails, and
 *    the staged output is removed, when another process took the partition
 *    over), which lists the output and its inputs as a pending merge; then the
 *    output is renamed into place, by this process or, after a crash, by the
 *    partition's next owner completing the record;
 * 3. the inputs stay where they are for `graceMs` more, so a reader that
 *    listed them before the rename can still open them. During that time a
 *    listing holds the output and its inputs, and the rule every reader of
 *    the archive applies ({@link withoutSuperseded}: a file whose offset range
 *    lies inside another file's of the same folder and partition is not read)
 *    keeps one of them;
 * 4. {@link Compactor.expire} then commits a record that drops the merge from
 *    the pending ones and deletes its inputs.
 *
 * A crash before the merge's record leaves only a staged file, which the next
 * owner deletes; after it, the next owner renames the output if needed and the
 * inputs wait out their grace again from its takeover (it cannot know when the
 * rename was seen). A merged file whose inputs still wait is not merged again,
 * so the superseded files of a folder are always inputs of one pending merge.
 *
 * Merging streams: inputs are read one at a time and their row groups go
 * through a streaming writer (core/arrow/parquet.ts) straight to storage, so
 * memory holds about one input file and one row group, never the ~128 MB output.
 */
import type * as arrow from "apache-arrow";
import { concatParquet, readParquetSchema } from "../arrow/parquet.ts";
import type { Storage } from "../storage/storage.ts";
import type { PartitionLedger, PendingMerge } from "./ledger.ts";
import { parquetName } from "./file_names.ts";
import { AVRO_SCHEMA_KEY, parquetProperties, SCHEMA_KEY_KEY } from "./parquet_writer.ts";
import { hourPathStart } from "./partitioner.ts";
import { type ArchivedFile, listHourFiles } from "./reader.ts";

/** Options of {@link Compactor}. */
export interface CompactorOptions {
  targetBytes: number;
  /**
   * How long merged inputs stay beside the merged file once it is in place (from this
   * process's takeover, for merges an earlier owner left), so readers that listed them
   * before finish reading them. Default 0.
   */
  graceMs?: number;
  /** The clock, in ms since the epoch (tests move it). Default `Date.now`. */
  now?: () => number;
}

/** Rows per row group of merged files (about 16 MB of ZTF alerts with cutouts). */
const MERGED_ROW_GROUP_ROWS = 256;
const HOUR_MS = 3_600_000;

/** What one {@link Compactor.compactHour} call did. */
export interface CompactionResult {
  merged: number;
  written: number;
}

/** Merges small files of closed hours, for the partitions this process owns. */
export class Compactor {
  /**
   * Since when (ms, the compactor's clock) this process knows each pending merge in
   * place, by output path: the start of its inputs' grace.
   */
  #since = new Map<string, number>();

  constructor(readonly storage: Storage, readonly options: CompactorOptions) {}

  /**
   * Deletes the inputs of the pending merges of `ledgers` (the partitions this process
   * owns) whose grace is over, one ledger record each; returns how many inputs were
   * deleted. Throws the ledger's FencedError when a partition was taken over.
   */
  async expire(ledgers: Iterable<PartitionLedger>): Promise<number> {
    let deleted = 0;
    const grace = this.options.graceMs ?? 0;
    const known = new Set<string>();
    for (const ledger of ledgers) {
      for (const merge of [...ledger.merges]) {
        known.add(merge.output);
        const since = this.#sinceOf(merge);
        if (this.#now() < since + grace) continue;
        // An output someone else deleted leaves its inputs the only copy: they stay.
        const output = await this.storage.stat(merge.output);
        await ledger.expireMerge(merge, { keepInputs: output === null });
        this.#since.delete(merge.output);
        if (output !== null) deleted += merge.inputs.length;
      }
    }
    // Merges of partitions no longer owned, or expired by someone else: forgotten.
    for (const output of [...this.#since.keys()]) {
      if (!known.has(output)) this.#since.delete(output);
    }
    return deleted;
  }

  /**
   * Merges the committed small files of one hour folder (`<topic>/<hour>`) of the
   * partitions `owned` gives a ledger for (this process's); the others are left to
   * their owners. Throws the ledger's FencedError when a partition was taken over.
   */
  async compactHour(
    topic: string,
    hourDir: string,
    owned: (partition: number) => PartitionLedger | null,
  ): Promise<CompactionResult> {
    const result: CompactionResult = { merged: 0, written: 0 };
    const hour = (hourPathStart(hourDir) ?? 0) / HOUR_MS;
    const byPartition = new Map<number, ArchivedFile[]>();
    // Superseded inputs waiting out their grace are not listed: only what readers read is merged.
    for (const f of await listHourFiles(this.storage, { topic, hour, dir: hourDir })) {
      const ledger = owned(f.partition);
      // Files past the committed offset (an earlier version's crash left such) are never touched.
      if (ledger === null || f.endOffset > ledger.committed) continue;
      const list = byPartition.get(f.partition) ?? [];
      list.push(f);
      byPartition.set(f.partition, list);
    }
    for (const [partition, files] of byPartition) {
      const ledger = owned(partition);
      if (ledger === null) continue;
      const waiting = new Set(ledger.merges.map((m) => m.output));
      for (const run of this.#runs(files, waiting)) {
        for (const same of await this.#sameSchema(run)) {
          await this.#merge(ledger, hourDir, same);
          result.merged += same.files.length;
          result.written++;
        }
      }
    }
    return result;
  }

  /**
   * Consecutive files whose sizes add up to at most the target; only runs of 2+.
   * A file at the target size, or whose own inputs still wait, ends a run.
   */
  #runs(files: ArchivedFile[], waiting: ReadonlySet<string>): ArchivedFile[][] {
    const runs: ArchivedFile[][] = [];
    let run: ArchivedFile[] = [];
    let size = 0;
    const close = () => {
      if (run.length > 1) runs.push(run);
      run = [];
      size = 0;
    };
    for (const f of files) {
      if (f.size >= this.options.targetBytes || waiting.has(f.path)) {
        close();
        continue;
      }
      if (size + f.size > this.options.targetBytes) close();
      run.push(f);
      size += f.size;
    }
    close();
    return runs;
  }

  /**
   * A run cut where the schema changes, into consecutive pieces of 2+ files: a merged
   * file's offset range then covers exactly its inputs, never a file left out.
   */
  async #sameSchema(
    run: ArchivedFile[],
  ): Promise<{ files: ArchivedFile[]; schema: arrow.Schema }[]> {
    const pieces: { files: ArchivedFile[]; schema: arrow.Schema; key: string }[] = [];
    for (const f of run) {
      const schema = readParquetSchema(await this.storage.readFile(f.path));
      const key = JSON.stringify(schema.fields.map((field) => field.toString()));
      const last = pieces[pieces.length - 1];
      if (last?.key === key) last.files.push(f);
      else pieces.push({ files: [f], schema, key });
    }
    return pieces.filter((p) => p.files.length > 1);
  }

  /**
   * Merges files of one schema into one through the partition's ledger; its inputs then
   * wait out their grace.
   */
  async #merge(
    ledger: PartitionLedger,
    hourDir: string,
    { files, schema }: { files: ArchivedFile[]; schema: arrow.Schema },
  ): Promise<void> {
    const start = files[0].startOffset;
    const end = files[files.length - 1].endOffset;
    const output = `${hourDir}/${parquetName(ledger.tp, start, end)}`;
    const inputs = files.map((f) => f.path);
    const settings = parquetProperties(schema, {
      avroSchema: schema.metadata.get(AVRO_SCHEMA_KEY) ?? "",
      schemaKey: schema.metadata.get(SCHEMA_KEY_KEY) ?? "",
    }, { rowGroupRows: MERGED_ROW_GROUP_ROWS });
    // Batches come without the schema's metadata; the schema key must stay in the file.
    const bytes = await concatParquet(
      inputs.map((input) => () => this.storage.readFile(input)),
      { settings, keepMetadata: [SCHEMA_KEY_KEY] },
    );
    const staged = ledger.stage(output);
    await this.storage.writeFile(staged, bytes);
    await ledger.commitMerge({ file: { from: staged, to: output }, inputs });
    this.#since.set(output, this.#now());
  }

  /** When this process first knew `merge` in place (now, for one it finds). */
  #sinceOf(merge: PendingMerge): number {
    const since = this.#since.get(merge.output);
    if (since !== undefined) return since;
    this.#since.set(merge.output, this.#now());
    return this.#now();
  }

  #now(): number {
    return (this.options.now ?? Date.now)();
  }
}

/**
 * Compacts closed hours: the small files one partition wrote into an hour are
 * merged into files of about the target size, named by the offset range they
 * cover, so exactly-once survives compaction. Only committed files are merged.
 *
 * The commit protocol lets readers that list the folder themselves (DuckDB or
 * Spark over a glob, an HDFS copy) never fail and never count an alert twice
 * or not at all, when they read the files their listing does not show
 * superseded within the grace period (see README.md beside this file):
 *
 * 1. the merge is journalled in `_wal/compact/` (output and inputs);
 * 2. the output is written under a temporary name (`.tmp`, no reader's glob
 *    matches it), then renamed into place: the one atomic step that commits
 *    the merge, on local disk and on HDFS alike;
 * 3. the inputs stay where they are for `graceMs` more, so a reader that
 *    listed them before the rename can still open them. During that time a
 *    listing holds the output and its inputs, and the rule every reader of
 *    the archive applies ({@link withoutSuperseded}: a file whose offset range
 *    lies inside another file's of the same folder and partition is not read)
 *    keeps one of them;
 * 4. {@link Compactor.expire} then deletes the inputs, then the journal.
 *
 * A crash before the rename rolls back on restart (temporary output deleted,
 * inputs kept); after it, the inputs wait out their grace as if nothing had
 * happened. A merged file whose inputs still wait is not merged again, so the
 * superseded files of a folder are always inputs of one pending journal.
 *
 * Merging streams: inputs are read one at a time and their row groups go
 * through a streaming writer (core/arrow/parquet.ts) straight to storage, so
 * memory holds about one input file and one row group, never the ~128 MB output.
 */
import type * as arrow from "apache-arrow";
import { concatParquet, readParquetSchema } from "../arrow/parquet.ts";
import type { Storage } from "../storage/storage.ts";
import { parseJsonFile, replaceFile, temporaryOf } from "../storage/atomic_replace.ts";
import { journalEntries } from "./ledger.ts";
import { COMPACTION_JOURNALS, compactionJournalPath, parquetName } from "./file_names.ts";
import { AVRO_SCHEMA_KEY, parquetProperties, SCHEMA_KEY_KEY } from "./parquet_writer.ts";
import { hourPathStart } from "./partitioner.ts";
import { type ArchivedFile, listHourFiles } from "./reader.ts";

/** Options of {@link Compactor}. */
export interface CompactorOptions {
  targetBytes: number;
  /** Last committed offset of a partition (files past it are never touched). */
  committed(tp: { topic: string; partition: number }): Promise<bigint>;
  /**
   * How long merged inputs stay beside the merged file once it is in place (from a
   * restart, for merges a previous run left), so readers that listed them before
   * finish reading them. Default 0.
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

/** A journalled merge in place: its inputs wait out their grace. */
interface PendingMerge extends JournalFile {
  /** Its journal. */
  path: string;
  /** Since when (ms, the compactor's clock) the output is in place, or this run knows it is. */
  since: number;
}

/** Merges small files of closed hours. */
export class Compactor {
  /** Merges in place whose inputs wait out their grace, by output path. */
  #pending = new Map<string, PendingMerge>();

  constructor(readonly storage: Storage, readonly options: CompactorOptions) {}

  /**
   * Reads the journals a previous run left: rolls back merges a crash interrupted
   * before their rename, and keeps those in place waiting for {@link expire}. Call
   * it once, before the first {@link compactHour}. Returns the merges rolled back.
   */
  async recover(): Promise<number> {
    let n = 0;
    this.#pending.clear();
    // A torn journal is dropped: the merge had not begun writing its output.
    for await (
      const { path, entry: job } of journalEntries(this.storage, COMPACTION_JOURNALS, parseJournal)
    ) {
      if (await this.storage.stat(job.output) !== null) {
        this.#pending.set(job.output, { path, ...job, since: this.#now() });
        continue;
      }
      await this.storage.remove(temporaryOf(job.output));
      await this.storage.remove(path);
      n++;
    }
    return n;
  }

  /**
   * Deletes the inputs of merges whose grace is over, then their journals;
   * returns how many inputs were deleted.
   */
  async expire(): Promise<number> {
    let deleted = 0;
    const grace = this.options.graceMs ?? 0;
    for (const journal of [...this.#pending.values()]) {
      if (this.#now() < journal.since + grace) continue;
      const output = await this.storage.stat(journal.output);
      // An output someone else deleted leaves its inputs the only copy: they stay.
      if (output !== null) { for (const input of journal.inputs) await this.storage.remove(input); }
      await this.storage.remove(journal.path);
      this.#pending.delete(journal.output);
      if (output !== null) deleted += journal.inputs.length;
    }
    return deleted;
  }

  /** Merges waiting for their inputs to be deleted. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Merges the committed small files of one hour folder (`<topic>/<hour>`). */
  async compactHour(topic: string, hourDir: string): Promise<CompactionResult> {
    const result: CompactionResult = { merged: 0, written: 0 };
    const hour = (hourPathStart(hourDir) ?? 0) / HOUR_MS;
    const byPartition = new Map<number, ArchivedFile[]>();
    // Superseded inputs waiting out their grace are not listed: only what readers read is merged.
    for (const f of await listHourFiles(this.storage, { topic, hour, dir: hourDir })) {
      if (f.endOffset > await this.options.committed(f)) continue;
      const list = byPartition.get(f.partition) ?? [];
      list.push(f);
      byPartition.set(f.partition, list);
    }
    for (const [partition, files] of byPartition) {
      for (const run of this.#runs(files)) {
        for (const same of await this.#sameSchema(run)) {
          await this.#merge({ topic, partition }, { hourDir, hour }, same);
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
  #runs(files: ArchivedFile[]): ArchivedFile[][] {
    const runs: ArchivedFile[][] = [];
    let run: ArchivedFile[] = [];
    let size = 0;
    const close = () => {
      if (run.length > 1) runs.push(run);
      run = [];
      size = 0;
    };
    for (const f of files) {
      if (f.size >= this.options.targetBytes || this.#pending.has(f.path)) {
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

  /** Merges files of one schema into one, journalled; its inputs then wait out their grace. */
  async #merge(
    tp: { topic: string; partition: number },
    where: { hourDir: string; hour: number },
    { files, schema }: { files: ArchivedFile[]; schema: arrow.Schema },
  ): Promise<void> {
    const start = files[0].startOffset;
    const end = files[files.length - 1].endOffset;
    const job: JournalFile = {
      output: `${where.hourDir}/${parquetName(tp, start, end)}`,
      inputs: files.map((f) => f.path),
    };
    const path = compactionJournalPath(tp, { start, end, hour: where.hour });
    await this.storage.writeFile(path, new TextEncoder().encode(JSON.stringify(job)));
    const settings = parquetProperties(schema, {
      avroSchema: schema.metadata.get(AVRO_SCHEMA_KEY) ?? "",
      schemaKey: schema.metadata.get(SCHEMA_KEY_KEY) ?? "",
    }, { rowGroupRows: MERGED_ROW_GROUP_ROWS });
    // Batches come without the schema's metadata; the schema key must stay in the file.
    const bytes = await concatParquet(
      job.inputs.map((input) => () => this.storage.readFile(input)),
      { settings, keepMetadata: [SCHEMA_KEY_KEY] },
    );
    await replaceFile(this.storage, job.output, bytes);
    this.#pending.set(job.output, { path, ...job, since: this.#now() });
  }

  #now(): number {
    return (this.options.now ?? Date.now)();
  }
}

/** What a compaction journal records: the merged file and the files it replaces. */
interface JournalFile {
  output: string;
  inputs: string[];
}

/** A compaction journal; null when a crash tore it while it was written. */
function parseJournal(bytes: Uint8Array): JournalFile | null {
  const parsed = parseJsonFile(bytes) as Partial<JournalFile> | null;
  if (typeof parsed?.output !== "string" || !Array.isArray(parsed.inputs)) return null;
  return { output: parsed.output, inputs: parsed.inputs };
}

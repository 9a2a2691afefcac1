/**
 * Compacts closed hours: the small files one partition wrote into an hour are
 * merged into files of about the target size, named by the offset range they
 * cover, so exactly-once survives compaction. Only committed files are merged,
 * and each merge is journalled in `_wal/compact/`: a crash after the merged
 * file was renamed into place finishes the job on restart (inputs deleted), a
 * crash before it rolls back (inputs kept). Between the rename and the deletes
 * (and after a crash there, until recovery) the hour folder holds both; the
 * reader (reader.ts) leaves out the inputs of a journalled merge whose output
 * it lists ({@link journalledMerges}).
 *
 * Merging streams: inputs are read one at a time and their row groups go
 * through a streaming writer (core/arrow/parquet.ts) straight to storage, so
 * memory holds about one input file and one row group, never the ~128 MB output.
 */
import type * as arrow from "apache-arrow";
import { concatParquet, readParquetSchema } from "../arrow/parquet.ts";
import { StorageNotFoundError } from "../storage/errors.ts";
import type { Storage } from "../storage/storage.ts";
import { parseJsonFile, replaceFile, temporaryOf } from "../storage/atomic_replace.ts";
import { journalEntries } from "./ledger.ts";
import {
  COMPACTION_JOURNALS,
  compactionJournalPath,
  parquetName,
  parseParquetName,
} from "./file_names.ts";
import { AVRO_SCHEMA_KEY, parquetProperties, SCHEMA_KEY_KEY } from "./parquet_writer.ts";

/** Options of {@link Compactor}. */
export interface CompactorOptions {
  targetBytes: number;
  /** Last committed offset of a partition (files past it are never touched). */
  committed(tp: { topic: string; partition: number }): Promise<bigint>;
}

/** Rows per row group of merged files (about 16 MB of ZTF alerts with cutouts). */
const MERGED_ROW_GROUP_ROWS = 256;

/** What one {@link Compactor.compactHour} call did. */
export interface CompactionResult {
  merged: number;
  written: number;
}

interface FileRef {
  path: string;
  partition: number;
  start: bigint;
  end: bigint;
  size: number;
}

/**
 * The merges journalled now: under way, or interrupted by a crash until
 * {@link Compactor.recover} finishes or rolls them back. A journal torn while
 * written (its merge had not begun) or removed meanwhile (its merge is done) is
 * left out; nothing is removed here, as readers call it.
 */
export async function journalledMerges(storage: Storage): Promise<MergeJob[]> {
  const jobs: MergeJob[] = [];
  for (const entry of await storage.list(COMPACTION_JOURNALS)) {
    if (entry.isDirectory || !entry.name.endsWith(".json")) continue;
    const bytes = await storage.readFile(entry.path).catch((error) => {
      if (error instanceof StorageNotFoundError) return null;
      throw error;
    });
    const job = bytes === null ? null : parseJournal(bytes);
    if (job !== null) jobs.push(job);
  }
  return jobs;
}

/** Merges small files of closed hours. */
export class Compactor {
  constructor(readonly storage: Storage, readonly options: CompactorOptions) {}

  /** Finishes or rolls back merges a crash interrupted. */
  async recover(): Promise<number> {
    let n = 0;
    // A torn journal is dropped: the merge had not begun writing its output.
    for await (
      const { path, entry: job } of journalEntries(this.storage, COMPACTION_JOURNALS, parseJournal)
    ) {
      if (await this.storage.stat(job.output) !== null) {
        for (const input of job.inputs) await this.storage.remove(input);
      } else {
        await this.storage.remove(temporaryOf(job.output));
      }
      await this.storage.remove(path);
      n++;
    }
    return n;
  }

  /** Merges the committed small files of one hour folder (`<topic>/<hour>`). */
  async compactHour(topic: string, hourDir: string): Promise<CompactionResult> {
    const result: CompactionResult = { merged: 0, written: 0 };
    const byPartition = new Map<number, FileRef[]>();
    for (const entry of await this.storage.list(hourDir)) {
      const parsed = entry.isDirectory ? null : parseParquetName(entry.name);
      if (parsed === null || parsed.topic !== topic) continue;
      if (parsed.end > await this.options.committed({ topic, partition: parsed.partition })) {
        continue;
      }
      const list = byPartition.get(parsed.partition) ?? [];
      list.push({
        path: entry.path,
        partition: parsed.partition,
        start: parsed.start,
        end: parsed.end,
        size: entry.size,
      });
      byPartition.set(parsed.partition, list);
    }
    for (const [partition, files] of byPartition) {
      files.sort((a, b) => (a.start < b.start ? -1 : 1));
      for (const run of this.#runs(files)) {
        const written = await this.#merge({ topic, partition }, hourDir, run);
        result.merged += written === 0 ? 0 : run.length;
        result.written += written;
      }
    }
    return result;
  }

  /** Consecutive files whose sizes add up to at most the target; only runs of 2+. */
  #runs(files: FileRef[]): FileRef[][] {
    const runs: FileRef[][] = [];
    let run: FileRef[] = [];
    let size = 0;
    for (const f of files) {
      if (f.size >= this.options.targetBytes) {
        if (run.length > 1) runs.push(run);
        run = [];
        size = 0;
        continue;
      }
      if (size + f.size > this.options.targetBytes) {
        if (run.length > 1) runs.push(run);
        run = [];
        size = 0;
      }
      run.push(f);
      size += f.size;
    }
    if (run.length > 1) runs.push(run);
    return runs;
  }

  /** Merges one run, grouping by schema; returns the number of files written. */
  async #merge(
    tp: { topic: string; partition: number },
    hourDir: string,
    run: FileRef[],
  ): Promise<number> {
    const groups = new Map<string, { files: FileRef[]; schema: arrow.Schema }>();
    for (const f of run) {
      const schema = readParquetSchema(await this.storage.readFile(f.path));
      const key = JSON.stringify(schema.fields.map((field) => field.toString()));
      const g = groups.get(key) ?? { files: [], schema };
      g.files.push(f);
      groups.set(key, g);
    }
    let written = 0;
    for (const { files, schema } of groups.values()) {
      if (files.length < 2) continue;
      const start = files[0].start;
      const end = files[files.length - 1].end;
      const output = `${hourDir}/${parquetName(tp, start, end)}`;
      const job: MergeJob = { output, inputs: files.map((f) => f.path) };
      const journal = compactionJournalPath(tp, start, end);
      await this.storage.writeFile(journal, new TextEncoder().encode(JSON.stringify(job)));
      const settings = parquetProperties(schema, {
        avroSchema: schema.metadata.get(AVRO_SCHEMA_KEY) ?? "",
        schemaKey: schema.metadata.get(SCHEMA_KEY_KEY) ?? "",
      }, { rowGroupRows: MERGED_ROW_GROUP_ROWS });
      // Batches come without the schema's metadata; the schema key must stay in the file.
      const bytes = await concatParquet(
        job.inputs.map((path) => () => this.storage.readFile(path)),
        { settings, keepMetadata: [SCHEMA_KEY_KEY] },
      );
      await replaceFile(this.storage, output, bytes);
      for (const input of job.inputs) await this.storage.remove(input);
      await this.storage.remove(journal);
      written++;
    }
    return written;
  }
}

/** A merge as its journal records it, paths relative to the archive root. */
export interface MergeJob {
  /** The merged file. */
  output: string;
  /** The files the output replaces, deleted once it is in place. */
  inputs: string[];
}

/** A compaction journal; null when a crash tore it while it was written. */
function parseJournal(bytes: Uint8Array): MergeJob | null {
  const parsed = parseJsonFile(bytes) as Partial<MergeJob> | null;
  if (typeof parsed?.output !== "string" || !Array.isArray(parsed.inputs)) return null;
  return { output: parsed.output, inputs: parsed.inputs.map(String) };
}

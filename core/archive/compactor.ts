/**
 * Compacts closed hours: the small files one partition wrote into an hour are
 * merged into files of about the target size, named by the offset range they
 * cover, so exactly-once survives compaction. Only the partition's owner
 * merges its files, and each merge is a record of the partition's ledger: the
 * merged file is staged, the record commits it with its inputs (or fails, when
 * another process took the partition over), then the merged file is renamed
 * into place and the inputs deleted; a crash in between is completed by the
 * partition's next owner. A reader listing the hour during the few
 * milliseconds between the rename and the deletes sees both.
 *
 * Merging streams: inputs are read one at a time and their row groups go
 * through parquet-wasm's streaming writer straight to storage, so memory holds
 * about one input file and one row group, never the ~128 MB output.
 */
import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";
import type { Storage } from "../storage/storage.ts";
import type { PartitionLedger } from "./ledger.ts";
import { parquetName } from "./batch_writer.ts";
import { AVRO_SCHEMA_KEY, parquetProperties, SCHEMA_KEY_KEY } from "./parquet_writer.ts";

/** Options of {@link Compactor}. */
export interface CompactorOptions {
  targetBytes: number;
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

const NAME = /^(.+)\+(\d+)\+(\d+)\+(\d+)\.parquet$/;

/** Parses `<topic>+<partition>+<start>+<end>.parquet`; null for other names. */
export function parseParquetName(
  name: string,
): { topic: string; partition: number; start: bigint; end: bigint } | null {
  const m = NAME.exec(name);
  if (m === null) return null;
  return { topic: m[1], partition: Number(m[2]), start: BigInt(m[3]), end: BigInt(m[4]) };
}

/** Merges small files of closed hours. */
export class Compactor {
  constructor(readonly storage: Storage, readonly options: CompactorOptions) {}

  /**
   * Merges the small files of one hour folder (`<topic>/<hour>`) of the partitions
   * `owned` gives a ledger for (this process's); the others are left to their owners.
   */
  async compactHour(
    topic: string,
    hourDir: string,
    owned: (partition: number) => PartitionLedger | null,
  ): Promise<CompactionResult> {
    const result: CompactionResult = { merged: 0, written: 0 };
    const byPartition = new Map<number, FileRef[]>();
    for (const entry of await this.storage.list(hourDir)) {
      const parsed = entry.isDirectory ? null : parseParquetName(entry.name);
      if (parsed === null || parsed.topic !== topic || owned(parsed.partition) === null) continue;
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
        const ledger = owned(partition);
        if (ledger === null) break;
        const written = await this.#merge(ledger, hourDir, run);
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
  async #merge(ledger: PartitionLedger, hourDir: string, run: FileRef[]): Promise<number> {
    const { tp } = ledger;
    const groups = new Map<string, { files: FileRef[]; schema: arrow.Schema }>();
    for (const f of run) {
      const schema = readArrowSchema(await this.storage.readFile(f.path));
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
      const inputs = files.map((f) => f.path);
      const properties = parquetProperties(schema, {
        avroSchema: schema.metadata.get(AVRO_SCHEMA_KEY) ?? "",
        schemaKey: schema.metadata.get(SCHEMA_KEY_KEY) ?? "",
      }, { rowGroupRows: MERGED_ROW_GROUP_ROWS });
      const bytes = await pq.transformParquetStream(this.#rowGroups(inputs), properties);
      const staged = ledger.stage(output);
      await this.storage.writeFile(staged, bytes);
      await ledger.commitMerge({ files: [{ from: staged, to: output }], inputs });
      written++;
    }
    return written;
  }

  /** The record batches of the files, read one file at a time as the writer asks. */
  #rowGroups(paths: string[]): ReadableStream<pq.RecordBatch> {
    let next = 0;
    return new ReadableStream<pq.RecordBatch>({
      pull: async (controller) => {
        if (next === paths.length) return controller.close();
        using table = pq.readParquet(await this.storage.readFile(paths[next++]));
        using schema = table.schema;
        // Batches come without the schema's metadata; the schema key must stay in the file.
        const key = new Map([[SCHEMA_KEY_KEY, schema.metadata().get(SCHEMA_KEY_KEY) ?? ""]]);
        for (const batch of table.recordBatches()) {
          using untagged = batch;
          controller.enqueue(untagged.withSchema(schema.withMetadata(key)));
        }
      },
    });
  }
}

/** The Arrow schema (with its metadata) of Parquet bytes, without decoding rows. */
function readArrowSchema(bytes: Uint8Array): arrow.Schema {
  return arrow.tableFromIPC(pq.readSchema(bytes).intoIPCStream()).schema;
}

/** Reads Parquet bytes into an Arrow table. */
export function readParquet(bytes: Uint8Array): arrow.Table {
  return arrow.tableFromIPC(pq.readParquet(bytes).intoIPCStream());
}

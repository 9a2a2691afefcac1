/**
 * Where plugin results go. {@link createParquetSink} writes each plugin batch
 * as Parquet under `<scienceRoot>/<plugin>/YYYY/MM/dd/hh/` (the hour of each
 * row's event), one file per source batch and hour, named from the Kafka
 * offset range of the archive file(s) the rows came from. Files are written
 * under a temporary name and renamed, so a replayed batch replaces its earlier
 * file instead of adding a duplicate; a batch read from a compacted archive
 * file also removes the results of the smaller files it merged (see
 * {@link ResultBatchMeta.replaces}). The raw archive is never touched.
 */
import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";
import { dirname, join } from "node:path";
import type { OutputType, PluginRow } from "./define.ts";
import { rowColumns } from "./result_table.ts";

/** Identifies the source batch and describes the rows handed to a {@link ResultSink}. */
export interface ResultBatchMeta {
  topic: string;
  partition: number;
  startOffset: number | bigint;
  endOffset: number | bigint;
  /** The plugin's declared output columns. */
  outputs: Record<string, OutputType>;
  /** Event hour of each row (same order as the rows), in whole hours since the Unix epoch. */
  eventHours: number[];
  /**
   * Offset range of the rows of each event hour (the archive files they were read
   * from), naming that hour's result file; hours not listed use the batch's range.
   */
  sources?: ResultSource[];
  /**
   * After writing, remove earlier result files of the same topic-partition in the
   * hours of `sources` whose offset range lies inside this range, except the ones
   * named in `keep`: their rows are in the files just written.
   */
  replaces?: ResultReplace;
}

/** The offset range the rows of one event hour came from. */
export interface ResultSource {
  hour: number;
  startOffset: bigint;
  endOffset: bigint;
}

/** Which earlier result files a batch supersedes; see {@link ResultBatchMeta.replaces}. */
export interface ResultReplace {
  startOffset: bigint;
  endOffset: bigint;
  /** `start+end` ranges to leave in place (other archive files, sibling chunks). */
  keep: string[];
}

/** Receives the checked rows of one plugin for one batch. */
export interface ResultSink {
  /** Persists the rows; a replay of the same batch must replace, not duplicate. */
  write(plugin: string, rows: PluginRow[], meta: ResultBatchMeta): Promise<void>;
}

/** The little a sink needs from storage; `core/storage`'s Storage fits. */
export interface ResultStorage {
  writeFile(path: string, bytes: Uint8Array): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  mkdirs(path: string): Promise<void>;
  /** Entries of a folder; a missing folder gives `[]`. */
  list(dir: string): Promise<{ name: string; isDirectory: boolean }[]>;
  /** Removes a file; a missing one is not an error. */
  remove(path: string): Promise<void>;
}

/** Storage on the local disk through Deno's file APIs. */
export function diskStorage(): ResultStorage {
  return {
    writeFile: (path, bytes) => Deno.writeFile(path, bytes),
    rename: (from, to) => Deno.rename(from, to),
    mkdirs: (path) => Deno.mkdir(path, { recursive: true }),
    async list(dir) {
      const entries: { name: string; isDirectory: boolean }[] = [];
      try {
        for await (const e of Deno.readDir(dir)) {
          entries.push({ name: e.name, isDirectory: e.isDirectory });
        }
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      return entries;
    },
    remove: (path) =>
      Deno.remove(path).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }),
  };
}

/** Options of {@link createParquetSink}. */
export interface ParquetSinkOptions {
  /** Folder under which `<plugin>/YYYY/MM/dd/hh/` is created, e.g. `science`. */
  scienceRoot: string;
  /** Defaults to {@link diskStorage}. */
  storage?: ResultStorage;
}

const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const NAME = /^(.+)\+(\d+)\+(\d+)\+(\d+)\.parquet$/;
const HOUR_MS = 3_600_000;

/** Path of the result file of one plugin, one event hour and one source batch. */
export function resultFilePath(
  scienceRoot: string,
  plugin: string,
  meta: Pick<ResultBatchMeta, "topic" | "partition" | "startOffset" | "endOffset"> & {
    eventHour: number;
  },
): string {
  if (!TOPIC.test(meta.topic)) {
    throw new Error(
      `Topic must be a Kafka topic name ([A-Za-z0-9._-]), found ${JSON.stringify(meta.topic)}`,
    );
  }
  const date = new Date(meta.eventHour * HOUR_MS);
  if (Number.isNaN(date.getTime())) {
    throw new Error(`Event hour must be whole hours since the Unix epoch, found ${meta.eventHour}`);
  }
  const two = (n: number) => String(n).padStart(2, "0");
  return join(
    scienceRoot,
    plugin,
    String(date.getUTCFullYear()),
    two(date.getUTCMonth() + 1),
    two(date.getUTCDate()),
    two(date.getUTCHours()),
    `${meta.topic}+${meta.partition}+${meta.startOffset}+${meta.endOffset}.parquet`,
  );
}

/**
 * The Arrow table of a plugin's rows: `id` (Int64), the declared outputs, and
 * `event_hour` (UTC timestamp in ms, truncated to the hour).
 */
export function resultTable(
  rows: PluginRow[],
  options: Pick<ResultBatchMeta, "outputs" | "eventHours">,
): arrow.Table {
  const { outputs, eventHours } = options;
  const columns = rowColumns(rows, outputs);
  const hours = new BigInt64Array(eventHours.length);
  for (let i = 0; i < hours.length; i++) hours[i] = BigInt(eventHours[i] * HOUR_MS);
  columns.event_hour = arrow.makeVector(arrow.makeData({
    type: new arrow.TimestampMillisecond("UTC"),
    length: hours.length,
    data: hours,
  }));
  return new arrow.Table(columns);
}

/**
 * Snappy; statistics per row group (DuckDB prunes on them); dictionaries for text outputs
 * only: scores and features are nearly all distinct, and a dictionary tried and dropped for
 * each of their columns doubled the write time.
 */
function writerProperties(outputs: Record<string, OutputType>): pq.WriterProperties {
  let builder = new pq.WriterPropertiesBuilder()
    .setCompression(pq.Compression.SNAPPY)
    .setDictionaryEnabled(false)
    .setStatisticsEnabled(pq.EnabledStatistics.Chunk);
  for (const [column, type] of Object.entries(outputs)) {
    if (type === "string") builder = builder.setColumnDictionaryEnabled(column, true);
  }
  return builder.build();
}

/** A {@link ResultSink} writing one Parquet file per plugin, event hour and source batch. */
export function createParquetSink(options: ParquetSinkOptions): ResultSink {
  const storage = options.storage ?? diskStorage();
  // Folders known to exist, so a steady stream does not pay one mkdirs per file.
  const folders = new Set<string>();
  async function ensureFolder(path: string): Promise<void> {
    if (folders.has(path)) return;
    await storage.mkdirs(path);
    if (folders.size >= 10_000) folders.clear();
    folders.add(path);
  }
  return {
    async write(plugin, rows, meta) {
      if (rows.length !== meta.eventHours.length) {
        throw new Error(
          `Expected one event hour per row, found ${meta.eventHours.length} for ${rows.length} rows`,
        );
      }
      // Rows sorted by hour make one table whose slices are the per-hour files.
      const order = rows.map((_, i) => i).sort((a, b) => meta.eventHours[a] - meta.eventHours[b]);
      const hours = order.map((i) => meta.eventHours[i]);
      const table = resultTable(order.map((i) => rows[i]), {
        outputs: meta.outputs,
        eventHours: hours,
      });
      const writes: Promise<void>[] = [];
      const written = new Set<string>();
      for (let start = 0; start < hours.length;) {
        let end = start + 1;
        while (end < hours.length && hours[end] === hours[start]) end++;
        const source = meta.sources?.filter((s) => s.hour === hours[start]) ?? [];
        const path = resultFilePath(options.scienceRoot, plugin, {
          ...meta,
          ...(source.length > 0 ? spanOf(source) : {}),
          eventHour: hours[start],
        });
        written.add(path);
        const ipc = arrow.tableToIPC(table.slice(start, end), "stream");
        const bytes = pq.writeParquet(pq.Table.fromIPCStream(ipc), writerProperties(meta.outputs));
        writes.push((async () => {
          const temporary = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
          await ensureFolder(dirname(path));
          try {
            await storage.writeFile(temporary, bytes);
          } catch {
            // The folder may have been removed since it was cached: create it and retry once.
            folders.delete(dirname(path));
            await ensureFolder(dirname(path));
            await storage.writeFile(temporary, bytes);
          }
          await storage.rename(temporary, path);
        })());
        start = end;
      }
      await Promise.all(writes);
      if (meta.replaces !== undefined) {
        const hoursOfSources = new Set((meta.sources ?? []).map((s) => s.hour));
        for (const hour of hoursOfSources) {
          await removeReplaced(storage, {
            dir: dirname(resultFilePath(options.scienceRoot, plugin, { ...meta, eventHour: hour })),
            topic: meta.topic,
            partition: meta.partition,
            replaces: meta.replaces,
            written,
          });
        }
      }
    },
  };
}

/** The range covering every source of one hour. */
function spanOf(sources: ResultSource[]): { startOffset: bigint; endOffset: bigint } {
  let startOffset = sources[0].startOffset;
  let endOffset = sources[0].endOffset;
  for (const s of sources) {
    if (s.startOffset < startOffset) startOffset = s.startOffset;
    if (s.endOffset > endOffset) endOffset = s.endOffset;
  }
  return { startOffset, endOffset };
}

/** Removes the result files of one hour folder that the batch just written supersedes. */
async function removeReplaced(
  storage: ResultStorage,
  target: {
    dir: string;
    topic: string;
    partition: number;
    replaces: ResultReplace;
    written: Set<string>;
  },
): Promise<void> {
  const { dir, replaces } = target;
  const keep = new Set(replaces.keep);
  for (const entry of await storage.list(dir)) {
    const m = NAME.exec(entry.name);
    if (entry.isDirectory || m === null) continue;
    if (m[1] !== target.topic || Number(m[2]) !== target.partition) continue;
    const start = BigInt(m[3]);
    const end = BigInt(m[4]);
    const path = join(dir, entry.name);
    if (target.written.has(path) || keep.has(`${start}+${end}`)) continue;
    if (start >= replaces.startOffset && end <= replaces.endOffset) await storage.remove(path);
  }
}

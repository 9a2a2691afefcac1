/**
 * Where plugin results go. {@link createParquetSink} writes each plugin batch
 * as Parquet under `<scienceRoot>/<plugin>/YYYY/MM/dd/hh/` (the hour of each
 * row's event), one file per source batch and hour, named from the Kafka
 * offset range of the archive file(s) the rows came from. Files are written
 * under a temporary name and renamed (by a {@link ResultPublisher}: for stream
 * plugins, together with the progress that covers them, see progress.ts), so
 * a replayed batch replaces its earlier file instead of adding a duplicate; a
 * batch read from a compacted archive file also removes the results of the
 * smaller files it merged (see {@link ResultBatchMeta.replaces}). The raw
 * archive is never touched.
 */
import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";
import { dirname, join } from "node:path";
import type { OutputType, PluginRow } from "./define.ts";

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

/** A result file written under a temporary name, and the name it takes. */
export interface StagedFile {
  from: string;
  to: string;
}

/**
 * How one batch's result files become visible: written where {@link stage} says,
 * then renamed into place and the files they supersede removed, all at once
 * ({@link publish}). Stream plugins publish with their progress (progress.ts).
 */
export interface ResultPublisher {
  /** A temporary path for the file that will be named `path`. */
  stage(path: string): string;
  /** Renames the staged files into place and removes `removes`; resolves once done. */
  publish(files: StagedFile[], removes: string[]): Promise<void>;
}

/** Receives the checked rows of one plugin for one batch. */
export interface ResultSink {
  /**
   * Persists the rows (through `publisher`, by default renamed beside their final
   * names); a replay of the same batch must replace, not duplicate.
   */
  write(
    plugin: string,
    rows: PluginRow[],
    meta: ResultBatchMeta,
    publisher?: ResultPublisher,
  ): Promise<void>;
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

const ARROW_TYPES: Record<OutputType, () => arrow.DataType> = {
  string: () => new arrow.Utf8(),
  float64: () => new arrow.Float64(),
  int64: () => new arrow.Int64(),
  int32: () => new arrow.Int32(),
  bool: () => new arrow.Bool(),
};

/**
 * The Arrow table of a plugin's rows: `id` (Int64), the declared outputs, and
 * `event_hour` (UTC timestamp in ms, truncated to the hour).
 */
export function resultTable(
  rows: PluginRow[],
  options: Pick<ResultBatchMeta, "outputs" | "eventHours">,
): arrow.Table {
  const { outputs, eventHours } = options;
  const columns: Record<string, arrow.Vector> = {
    id: arrow.vectorFromArray(rows.map((row) => row.id), new arrow.Int64()),
  };
  for (const [column, type] of Object.entries(outputs)) {
    columns[column] = arrow.vectorFromArray(rows.map((row) => row[column]), ARROW_TYPES[type]());
  }
  columns.event_hour = arrow.vectorFromArray(
    eventHours.map((hour) => hour * HOUR_MS),
    new arrow.TimestampMillisecond("UTC"),
  );
  return new arrow.Table(columns);
}

/** A {@link ResultSink} writing one Parquet file per plugin, event hour and source batch. */
export function createParquetSink(options: ParquetSinkOptions): ResultSink {
  const storage = options.storage ?? diskStorage();
  const properties = () =>
    new pq.WriterPropertiesBuilder().setCompression(pq.Compression.SNAPPY).build();
  // Folders known to exist, so a steady stream does not pay one mkdirs per file.
  const folders = new Set<string>();
  async function ensureFolder(path: string): Promise<void> {
    if (folders.has(path)) return;
    await storage.mkdirs(path);
    if (folders.size >= 10_000) folders.clear();
    folders.add(path);
  }
  // Without a publisher of its own (batch plugins, tests), a file is renamed from beside it.
  const beside: ResultPublisher = {
    stage: (path) => `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`,
    async publish(files, removes) {
      await Promise.all(files.map((f) => storage.rename(f.from, f.to)));
      for (const path of removes) await storage.remove(path);
    },
  };
  return {
    async write(plugin, rows, meta, publisher = beside) {
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
      const writes: Promise<StagedFile>[] = [];
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
        const bytes = pq.writeParquet(pq.Table.fromIPCStream(ipc), properties());
        const temporary = publisher.stage(path);
        writes.push((async () => {
          await ensureFolder(dirname(temporary));
          try {
            await storage.writeFile(temporary, bytes);
          } catch {
            // The folder may have been removed since it was cached: create it and retry once.
            folders.delete(dirname(temporary));
            await ensureFolder(dirname(temporary));
            await storage.writeFile(temporary, bytes);
          }
          return { from: temporary, to: path };
        })());
        start = end;
      }
      const files = await Promise.all(writes);
      const removes: string[] = [];
      if (meta.replaces !== undefined) {
        const hoursOfSources = new Set((meta.sources ?? []).map((s) => s.hour));
        for (const hour of hoursOfSources) {
          removes.push(
            ...await replacedFiles(storage, {
              dir: dirname(
                resultFilePath(options.scienceRoot, plugin, { ...meta, eventHour: hour }),
              ),
              topic: meta.topic,
              partition: meta.partition,
              replaces: meta.replaces,
              written,
            }),
          );
        }
      }
      await publisher.publish(files, removes);
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

/** The result files of one hour folder that the batch being written supersedes. */
async function replacedFiles(
  storage: ResultStorage,
  target: {
    dir: string;
    topic: string;
    partition: number;
    replaces: ResultReplace;
    written: Set<string>;
  },
): Promise<string[]> {
  const { dir, replaces } = target;
  const keep = new Set(replaces.keep);
  const found: string[] = [];
  for (const entry of await storage.list(dir)) {
    const m = NAME.exec(entry.name);
    if (entry.isDirectory || m === null) continue;
    if (m[1] !== target.topic || Number(m[2]) !== target.partition) continue;
    const start = BigInt(m[3]);
    const end = BigInt(m[4]);
    const path = join(dir, entry.name);
    if (target.written.has(path) || keep.has(`${start}+${end}`)) continue;
    if (start >= replaces.startOffset && end <= replaces.endOffset) found.push(path);
  }
  return found;
}

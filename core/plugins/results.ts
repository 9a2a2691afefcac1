/**
 * Where plugin results go. {@link createParquetSink} writes each plugin batch
 * as Parquet under `<scienceRoot>/<plugin>/YYYY/MM/dd/hh/` (the hour of each
 * row's event), one file per source batch and hour, named from the Kafka
 * offset range of the archive file(s) the rows came from. Files go through
 * the science root's Storage, written under a temporary name and renamed (by
 * a {@link ResultPublisher}: for stream plugins, together with the progress
 * that covers them, see progress.ts), so a replayed batch replaces its earlier
 * file instead of adding a duplicate; a batch read from a compacted archive
 * file also removes the results of the smaller files it merged (see
 * {@link ResultBatchMeta.replaces}). The raw archive is never touched.
 */
import * as arrow from "apache-arrow";
import { join } from "node:path";
import {
  legacyParquetName,
  parquetName,
  parseParquetName,
  resultFolder,
} from "../archive/file_names.ts";
import type { PartitionLayout } from "../archive/partitioner.ts";
import { type ParquetSettings, writeParquet } from "../arrow/parquet.ts";
import { uniqueTemporaryOf } from "../storage/atomic_replace.ts";
import { LocalStorage } from "../storage/local.ts";
import type { Storage } from "../storage/storage.ts";
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

/** An inclusive range of Kafka offsets. */
export interface OffsetRange {
  startOffset: bigint;
  endOffset: bigint;
}

/** Which earlier result files a batch supersedes; see {@link ResultBatchMeta.replaces}. */
export interface ResultReplace extends OffsetRange {
  /** Ranges whose result files stay in place (other archive files, sibling chunks). */
  keep: OffsetRange[];
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
  /**
   * Renames the staged files into place and removes what `removes` lists, which it calls
   * as it publishes (the files to replace are listed then, after the commits queued before
   * it); resolves once done.
   */
  publish(files: StagedFile[], removes: () => Promise<string[]>): Promise<void>;
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

/** Options of {@link createParquetSink}. */
export interface ParquetSinkOptions {
  /** The science root's storage, under which `<plugin>/YYYY/MM/dd/hh/` is created. */
  storage?: Storage;
  /** A local science root (e.g. `science`), when no `storage` is given: local storage there. */
  scienceRoot?: string;
  /** Hour folders as the archive lays them out (`archive.layout`). Default `plain`. */
  layout?: PartitionLayout;
}

const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const HOUR_MS = 3_600_000;

/** Which result file: the source batch's offsets, the rows' event hour and the hour layout. */
export type ResultFileMeta =
  & Pick<ResultBatchMeta, "topic" | "partition" | "startOffset" | "endOffset">
  & {
    eventHour: number;
    /** Default `plain`. */
    layout?: PartitionLayout;
  };

/**
 * Path of the result file of one plugin, one event hour and one source batch;
 * its name is the archive's (file_names.ts), offsets zero-padded.
 */
export function resultFilePath(scienceRoot: string, plugin: string, meta: ResultFileMeta): string {
  const { folder, name } = resultFile(plugin, meta);
  return join(scienceRoot, folder, name);
}

/** The result file's folder and name, relative to the science root. */
function resultFile(plugin: string, meta: ResultFileMeta): { folder: string; name: string } {
  checkFileMeta(meta);
  return {
    folder: resultFolder(plugin, meta.eventHour, meta.layout),
    name: parquetName(meta, BigInt(meta.startOffset), BigInt(meta.endOffset)),
  };
}

function checkFileMeta(meta: ResultFileMeta): void {
  if (!TOPIC.test(meta.topic)) {
    throw new Error(
      `Topic must be a Kafka topic name ([A-Za-z0-9._-]), found ${JSON.stringify(meta.topic)}`,
    );
  }
  const date = new Date(meta.eventHour * HOUR_MS);
  if (Number.isNaN(date.getTime())) {
    throw new Error(`Event hour must be whole hours since the Unix epoch, found ${meta.eventHour}`);
  }
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
function writerSettings(outputs: Record<string, OutputType>): ParquetSettings {
  const text = Object.keys(outputs).filter((column) => outputs[column] === "string");
  return {
    compression: "snappy",
    dictionary: false,
    statistics: true,
    columns: new Map(text.map((column) => [column, { dictionary: true }])),
  };
}

/** A {@link ResultSink} writing one Parquet file per plugin, event hour and source batch. */
export function createParquetSink(options: ParquetSinkOptions): ResultSink {
  const storage = options.storage ?? localScience(options.scienceRoot);
  // Whether each folder written to holds files named as before offsets were padded (see
  // `write`), listed once per folder so that a steady stream does not pay a listing per file.
  const legacyFolders = new Map<string, boolean>();
  async function holdsLegacyNames(folder: string): Promise<boolean> {
    let legacy = legacyFolders.get(folder);
    if (legacy !== undefined) return legacy;
    legacy = (await storage.list(folder)).some((e) => {
      const parsed = e.isDirectory ? null : parseParquetName(e.name);
      return parsed !== null && e.name !== parquetName(parsed, parsed.start, parsed.end);
    });
    if (legacyFolders.size >= 10_000) legacyFolders.clear();
    legacyFolders.set(folder, legacy);
    return legacy;
  }
  // Without a publisher of its own (batch plugins, tests), a file is replaced atomically from
  // beside it, under a name of its own: a replay may write it beside the live flow.
  const beside: ResultPublisher = {
    stage: (path) => uniqueTemporaryOf(path),
    async publish(files, removes) {
      await Promise.all(files.map((f) => storage.rename(f.from, f.to)));
      for (const path of await removes()) await storage.remove(path);
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
      const removes: string[] = [];
      for (let start = 0; start < hours.length;) {
        let end = start + 1;
        while (end < hours.length && hours[end] === hours[start]) end++;
        const source = meta.sources?.filter((s) => s.hour === hours[start]) ?? [];
        const file = {
          ...meta,
          ...(source.length > 0 ? spanOf(source) : {}),
          eventHour: hours[start],
          layout: options.layout,
        };
        const { folder, name } = resultFile(plugin, file);
        const path = `${folder}/${name}`;
        written.add(path);
        const bytes = writeParquet(table.slice(start, end), writerSettings(meta.outputs));
        const temporary = publisher.stage(path);
        writes.push((async () => {
          await storage.writeFile(temporary, bytes);
          if (await holdsLegacyNames(folder)) {
            // A replay of a batch whose results an earlier version wrote: that file goes.
            const start = BigInt(file.startOffset);
            const old = `${folder}/${legacyParquetName(file, start, BigInt(file.endOffset))}`;
            if (old !== path) removes.push(old);
          }
          return { from: temporary, to: path };
        })());
        start = end;
      }
      const files = await Promise.all(writes);
      const { replaces } = meta;
      await publisher.publish(files, async () => {
        if (replaces === undefined) return removes;
        const hoursOfSources = new Set((meta.sources ?? []).map((s) => s.hour));
        const replaced: string[] = [];
        for (const hour of hoursOfSources) {
          replaced.push(
            ...await replacedFiles(storage, {
              dir: resultFolder(plugin, hour, options.layout),
              topic: meta.topic,
              partition: meta.partition,
              replaces,
              written,
            }),
          );
        }
        return [...removes, ...replaced];
      });
    },
  };
}

/** Local storage at the science root of a sink given no storage. */
function localScience(scienceRoot: string | undefined): Storage {
  if (scienceRoot === undefined) {
    throw new Error("A result sink needs the science root's storage or a local scienceRoot");
  }
  return new LocalStorage(scienceRoot);
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
  storage: Storage,
  target: {
    dir: string;
    topic: string;
    partition: number;
    replaces: ResultReplace;
    written: Set<string>;
  },
): Promise<string[]> {
  const { dir, replaces } = target;
  const found: string[] = [];
  for (const entry of await storage.list(dir)) {
    const name = entry.isDirectory ? null : parseParquetName(entry.name);
    if (name === null || name.topic !== target.topic || name.partition !== target.partition) {
      continue;
    }
    const { start, end } = name;
    const path = entry.path;
    const kept = replaces.keep.some((k) => k.startOffset === start && k.endOffset === end);
    if (target.written.has(path) || kept) continue;
    if (start >= replaces.startOffset && end <= replaces.endOffset) found.push(path);
  }
  return found;
}

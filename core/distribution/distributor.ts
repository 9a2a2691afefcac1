/**
 * The distribution loop: for every source partition of the archive, the
 * archived alerts past the distribution's progress are filtered and the
 * passing ones published, with the new progress, in one transaction per
 * round. Rounds are cut at archived file boundaries so that a round holds
 * every row below its end offset, whatever hour folders the rows of a batch
 * went to.
 *
 * The work of a round is a pipeline, so that the two cores are busy at once:
 *
 * 1. read: the files' bytes as the archive handed them over (RecentFiles),
 *    else read back from the archive (after a restart, while behind);
 * 2. filter: the SQL filters in the sandboxed DuckDB (filter_engine.ts), one
 *    query per file, then the filter plugins on the same rows;
 * 3. encode: the passing alerts as Avro, in Workers (encoder_pool.ts);
 * 4. publish: one Kafka transaction with the new progress.
 *
 * Rounds are prepared (1-3) ahead of the one being published (4), and
 * published strictly in order: progress only moves over published rounds.
 *
 * Only the source partitions this process owns are distributed (`owns`): with
 * several nodes, each distributes what its archive holds.
 */
import { Buffer } from "node:buffer";
import { type ArchivedFile, listArchivedFiles, readCommittedOffsets } from "../archive/reader.ts";
import {
  formatTopicPartition,
  type TopicPartition,
  TopicPartitionMap,
} from "../source/topic_partition.ts";
import type { Fields } from "../log.ts";
import type { Storage } from "../storage/storage.ts";
import type { PublishedAlert } from "./alert_encoder.ts";
import type { AlertEncoderPool } from "./encoder_pool.ts";
import {
  type BatchFiles,
  type Evaluation,
  type FilterEngine,
  type ParquetSource,
  parquetSource,
} from "./filter_engine.ts";
import { type FilterPlugin, filterPluginBatch } from "./plugin_filters.ts";
import type { OutMessage, Progress } from "./publisher.ts";
import type { RecentFiles } from "./recent_files.ts";
import { scienceFilesFor, sciencePlugins } from "./science_files.ts";
import type { FilterDefinition } from "./sql_filter.ts";
import type { FilterCounters } from "./status.ts";

/** Where the distribution publishes; a {@link TransactionalPublisher} in the service. */
export interface Sink {
  progress(topic: string, partition: number): Promise<bigint | null>;
  publish(messages: OutMessage[], progress: Progress): Promise<void>;
  /** Whether another process took the source partition over (it is then left alone). */
  lost(topic: string, partition: number): boolean;
}

/** What the distributor reads, runs and publishes to. */
export interface DistributorOptions {
  archive: Storage;
  science: Storage;
  sink: Sink;
  /** The SQL filters in force (read at each round, so definitions apply at the next batch). */
  filters(): FilterDefinition[];
  /** The filter plugins running now (read at each round). */
  pluginFilters?(): FilterPlugin[];
  counters: FilterCounters;
  /** Topic of a filter's alerts. */
  topicOf(filter: string): string;
  /** Declared science columns of plugins without results: plugin → DuckDB struct type. */
  absent: Record<string, string>;
  /** Called after a commit with summaries of the alerts each filter published, newest first. */
  onPublished(filter: string, alerts: PublishedAlert[]): void;
  /** How long a round waits for a science plugin that is behind (ms). */
  scienceWaitMs: number;
  /** Next offset of each science plugin per topic-partition (null: the plugin never ran). */
  scienceProgress(plugin: string): Promise<TopicPartitionMap<bigint> | null>;
  /** Whether this process distributes a source partition now; default every one. */
  owns?(tp: TopicPartition): boolean;
  /**
   * The last committed offset of a partition whose files are in place, when this process's
   * archive owns it (`Ownership.inPlace`): the ledger's offset is taken up to there only.
   */
  inPlace?(tp: TopicPartition): bigint | undefined;
  log(message: string, fields: Fields): void;
  /** The sandboxed database the SQL filters run in. */
  engine: FilterEngine;
  /** The Workers that encode the messages. */
  encoders: AlertEncoderPool;
  /** Files the archive handed over in memory; without it every file is read back. */
  recent?: RecentFiles;
  /** Rounds prepared ahead of the one being published. Default: the encoders' Workers, plus one. */
  ahead?: number;
}

/** One transaction's worth of work: the rows of `files` with offsets in `[from, to)`. */
interface Round {
  files: ArchivedFile[];
  from: bigint;
  to: bigint;
  progress: Progress;
}

/** A round ready to publish. */
interface Prepared {
  round: Round;
  messages: OutMessage[];
  /** Alerts read. */
  read: number;
  /** Alerts each filter passed, and the summaries of the last ten. */
  passed: Map<string, number>;
  summaries: Map<string, PublishedAlert[]>;
  /** The encoded messages' buffers, handed back to the encoders once published. */
  buffers: Uint8Array[];
}

/** Distributes what the archive holds; `round()` does one pass over every source partition. */
export class Distributor {
  readonly #next = new TopicPartitionMap<bigint>();
  /** The archive's committed offset per topic-partition, for the lag. */
  readonly #committed = new TopicPartitionMap<bigint>();
  readonly #waitingSince = new TopicPartitionMap<number>();
  /** Struct type of each plugin's results seen so far, for files it has no results for. */
  readonly #learned = new Map<string, string>();
  /** One buffer per distinct key (schema JSON), shared by its messages. */
  readonly #keys = new Map<string, Buffer>();

  constructor(private readonly options: DistributorOptions) {}

  /** Archived offsets not yet distributed, per topic-partition. */
  readonly lag = new TopicPartitionMap<bigint>();

  /**
   * Forgets where every partition stands: after a change of ownership the next round
   * reads each partition's progress again (another process may have moved it).
   */
  reassign(): void {
    this.#generation++;
    this.#next.clear();
    this.lag.clear();
  }

  /** Bumped by {@link reassign}: a round in progress stops after its transaction. */
  #generation = 0;

  /**
   * One pass: publishes every complete round available; returns the alerts read. Once
   * `signal` aborts, it returns after the transaction in progress (a stop waits for one, not
   * for the whole backlog).
   */
  async round(signal?: AbortSignal): Promise<number> {
    const ahead = this.options.ahead ?? this.options.encoders.workers + 1;
    const queue: { round: Round; prepared: Promise<Prepared> }[] = [];
    let read = 0;
    const generation = this.#generation;
    const mine = (tp: TopicPartition) =>
      generation === this.#generation && (this.options.owns?.(tp) ?? true) &&
      !this.options.sink.lost(tp.topic, tp.partition);
    const publishFirst = async () => {
      const { round, prepared } = queue.shift()!;
      const ready = await prepared;
      // Prepared before a change of ownership: the partition's progress is read again first.
      if (!mine(round.progress)) {
        for (const buffer of ready.buffers) this.options.encoders.recycle(buffer);
        return;
      }
      read += await this.#publish(ready);
    };
    try {
      for await (const round of this.#rounds(mine, signal)) {
        const prepared = this.#prepare(round);
        // Failures surface in order, from publishFirst; until then nothing is unhandled.
        prepared.catch(() => {});
        queue.push({ round, prepared });
        while (queue.length > ahead) await publishFirst();
      }
      while (queue.length > 0 && !signal?.aborted) await publishFirst();
    } catch (error) {
      // Where a failed round left the sink is read back from it before the next pass.
      this.#next.clear();
      throw error;
    } finally {
      await Promise.allSettled(queue.map((q) => q.prepared));
    }
    return read;
  }

  /** The rounds available on the partitions `mine` says, partition after partition, in order. */
  async *#rounds(
    mine: (tp: TopicPartition) => boolean,
    signal?: AbortSignal,
  ): AsyncGenerator<Round> {
    const generation = this.#generation;
    for (const inLedger of await readCommittedOffsets(this.options.archive)) {
      if (signal?.aborted || generation !== this.#generation) return;
      const tp: TopicPartition = { topic: inLedger.topic, partition: inLedger.partition };
      if (!mine(tp)) continue;
      // A batch of this process's archive still renaming its files is left to the next pass.
      const inPlace = this.options.inPlace?.(tp);
      const committed = inPlace !== undefined && inPlace < inLedger.offset
        ? { ...inLedger, offset: inPlace }
        : inLedger;
      let next: bigint = this.#next.get(tp) ??
        await this.options.sink.progress(committed.topic, committed.partition) ?? 0n;
      if (generation !== this.#generation) return;
      this.#next.set(tp, next);
      this.#committed.set(tp, committed.offset);
      this.lag.set(tp, committed.offset + 1n - next);
      if (next > committed.offset) continue;
      const files = (await listArchivedFiles(this.options.archive, committed.topic, {
        partition: committed.partition,
      })).filter((f) => f.endOffset >= next && f.startOffset <= committed.offset)
        .sort((a, b) => a.startOffset < b.startOffset ? -1 : a.startOffset > b.startOffset ? 1 : 0);
      // A file may reach past the committed offset read above (merged from batches committed
      // since): the rounds stop at that offset, the rest is the next pass's.
      while (files.length > 0 && next <= committed.offset && !signal?.aborted && mine(tp)) {
        const first = files[0].startOffset > next ? files[0].startOffset : next;
        const later = files.find((f) => f.startOffset > first);
        const end = later === undefined ? committed.offset + 1n : later.startOffset;
        if (!(await this.#scienceReady(tp, end))) break;
        yield {
          files: files.filter((f) => f.startOffset < end),
          from: next,
          to: end,
          progress: { topic: committed.topic, partition: committed.partition, next: end },
        };
        next = end;
        for (let i = files.length - 1; i >= 0; i--) {
          if (files[i].endOffset < next) files.splice(i, 1);
        }
      }
    }
  }

  /** True once every science plugin that follows this partition has results below `end`, or the wait ran out. */
  async #scienceReady(tp: TopicPartition, end: bigint): Promise<boolean> {
    for (const plugin of await sciencePlugins(this.options.science)) {
      const progress = await this.options.scienceProgress(plugin);
      const at = progress?.get(tp);
      if (at === undefined || at >= end) continue;
      const since = this.#waitingSince.get(tp) ?? Date.now();
      this.#waitingSince.set(tp, since);
      if (Date.now() - since < this.options.scienceWaitMs) return false;
      this.options.log("science results late: distributing without them", {
        plugin,
        source: formatTopicPartition(tp),
      });
    }
    this.#waitingSince.delete(tp);
    return true;
  }

  /** Reads, filters and encodes a round. */
  async #prepare(round: Round): Promise<Prepared> {
    const filters = this.options.filters();
    const plugins = this.options.pluginFilters?.() ?? [];
    const science = await sciencePlugins(this.options.science);
    const prepared: Prepared = {
      round,
      messages: [],
      read: 0,
      passed: new Map(),
      summaries: new Map(),
      buffers: [],
    };
    for (const file of round.files) {
      // Bytes the archive handed over are shared with the plugins: the Workers get a copy.
      const held = this.options.recent?.take(file.path);
      const parquet = held === undefined
        ? await parquetSource(this.options.archive, file.path)
        : { bytes: held };
      const batch = await this.#batchFiles(parquet, file, science, round);
      const evaluation = await this.options.engine.evaluate(batch, filters);
      for (const s of evaluation.science) {
        if (batch.results.some((r) => r.plugin === s.plugin)) {
          this.#learned.set(s.plugin, s.sqlType);
        }
      }
      const rows = evaluation.rows.length;
      prepared.read += rows;
      const selected = new Map<string, number[]>();
      for (const filter of filters) {
        const failure = evaluation.failed.get(filter.name);
        if (failure !== undefined) this.#failed(filter.name, failure);
        const passed = evaluation.passed.get(filter.name);
        if (passed !== undefined) this.#selected(selected, prepared, filter.name, rows, passed);
      }
      if (rows > 0 && plugins.length > 0) {
        const bytes = "bytes" in parquet ? parquet.bytes : await Deno.readFile(parquet.local);
        await this.#askPlugins(plugins, bytes, file, evaluation, selected, prepared);
      }
      const encoding = "local" in parquet
        ? parquet.local
        : held === undefined
        ? parquet.bytes
        : held.slice();
      await this.#encode(encoding, evaluation, selected, prepared);
    }
    return prepared;
  }

  /** The archived file with the science results that cover it. */
  async #batchFiles(
    parquet: ParquetSource,
    file: ArchivedFile,
    plugins: string[],
    round: Round,
  ): Promise<BatchFiles> {
    const found = await scienceFilesFor(this.options.science, plugins, file);
    const results = [];
    for (const { plugin, paths } of found) {
      if (paths.length === 0) continue;
      results.push({
        plugin,
        files: await Promise.all(paths.map((p) => parquetSource(this.options.science, p))),
      });
    }
    const absent = { ...this.options.absent, ...Object.fromEntries(this.#learned) };
    for (const r of results) delete absent[r.plugin];
    return { parquet, results, absent, fromOffset: round.from, toOffset: round.to };
  }

  #selected(
    selected: Map<string, number[]>,
    prepared: Prepared,
    name: string,
    rows: number,
    passed: number[],
  ): void {
    selected.set(name, passed);
    prepared.passed.set(name, (prepared.passed.get(name) ?? 0) + passed.length);
    this.options.counters.evaluated(name, rows, passed.length);
  }

  #failed(name: string, error: string): void {
    this.options.counters.failed(name, error);
    this.options.log("filter failed", { filter: name, error });
  }

  /** Each filter plugin's verdicts on the rows; one that fails is reported and skipped. */
  async #askPlugins(
    plugins: FilterPlugin[],
    parquet: Uint8Array,
    file: ArchivedFile,
    evaluation: Evaluation,
    selected: Map<string, number[]>,
    prepared: Prepared,
  ): Promise<void> {
    const rows = evaluation.rows.length;
    await Promise.all(plugins.map(async (plugin) => {
      if (selected.has(plugin.name)) {
        this.#failed(plugin.name, `filter plugin ${plugin.name}: a SQL filter has its name`);
        selected.delete(plugin.name);
        return;
      }
      try {
        const built = await filterPluginBatch(parquet, file, evaluation, plugin);
        if (built === undefined) return;
        const verdict = await plugin.select(built.batch);
        const passed = verdict.passed.map((id) => built.rowOf.get(id)!).sort((a, b) => a - b);
        this.#selected(selected, prepared, plugin.name, rows, passed);
        if (verdict.failed.length > 0) {
          this.#failed(
            plugin.name,
            `filter plugin ${plugin.name}: process() threw on ${verdict.failed.length} of ` +
              `${rows} alerts (they do not pass): ${verdict.failed[0].reason}`,
          );
        }
      } catch (error) {
        this.#failed(plugin.name, (error as Error).message);
      }
    }));
  }

  /** Encodes the rows some filter passed and queues one message per filter and row. */
  async #encode(
    parquet: Uint8Array | string,
    evaluation: Evaluation,
    selected: Map<string, number[]>,
    prepared: Prepared,
  ): Promise<void> {
    const wanted = Int32Array.from(new Set([...selected.values()].flat())).sort();
    if (wanted.length === 0) return;
    const encoded = await this.options.encoders.encode({
      parquet,
      rows: wanted,
      scienceFields: evaluation.science.map((s) => s.field),
      scienceValues: Array.from(wanted, (row) => evaluation.values.get(row) ?? null),
    });
    prepared.buffers.push(encoded.data);
    let key = this.#keys.get(encoded.key);
    if (key === undefined) this.#keys.set(encoded.key, key = Buffer.from(encoded.key));
    const index = new Map<number, number>();
    wanted.forEach((row, i) => index.set(row, i));
    for (const [name, rows] of selected) {
      const topic = this.options.topicOf(name);
      const summaries = prepared.summaries.get(name) ?? [];
      for (const row of rows) {
        const i = index.get(row)!;
        prepared.messages.push({
          topic,
          key,
          value: encoded.data.subarray(i === 0 ? 0 : encoded.ends[i - 1], encoded.ends[i]),
          partitionKey: encoded.partitionKeys[i],
        });
      }
      for (const row of rows.slice(-10)) summaries.unshift(encoded.summaries[index.get(row)!]);
      prepared.summaries.set(name, summaries.slice(0, 10));
    }
  }

  /** Publishes a prepared round and moves the progress; returns the alerts read. */
  async #publish(prepared: Prepared): Promise<number> {
    const { round } = prepared;
    const generation = this.#generation;
    await this.options.sink.publish(prepared.messages, round.progress);
    for (const buffer of prepared.buffers) this.options.encoders.recycle(buffer);
    const tp = round.progress;
    // Ownership changed meanwhile: the next pass reads the progress from the sink again.
    if (generation === this.#generation) {
      this.#next.set(tp, round.to);
      this.lag.set(tp, this.#committed.get(tp)! + 1n - round.to);
    }
    for (const [name, n] of prepared.passed) this.options.counters.published(name, n);
    for (const [name, list] of prepared.summaries) this.options.onPublished(name, list);
    return prepared.read;
  }
}

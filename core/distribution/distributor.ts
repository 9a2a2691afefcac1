/**
 * The distribution loop: for every source partition of the archive, reads
 * the archived alerts past the distribution's progress (the archive reader,
 * as the plugins' catch-up does), joins the science results, applies every
 * filter and publishes the passing alerts with the new progress in one
 * transaction. Rounds are cut at archived file boundaries so that a round
 * holds every row below its end offset, whatever hour folders the rows of a
 * batch went to. Only the source partitions this process owns are distributed
 * (`owns`): with several nodes, each distributes what its archive holds.
 */
import type * as arrow from "apache-arrow";
import {
  type ArchivedFile,
  listArchivedFiles,
  parquetToTable,
  readCommittedOffsets,
} from "../archive/reader.ts";
import type { Storage } from "../storage/storage.ts";
import {
  avroName,
  AvroWriter,
  messageRecord,
  nodeOfArrow,
  nodeOfDuckDB,
  schemaJson,
} from "./avro_record.ts";
import { BATCH_TABLE, type BatchTable, openBatchTable, ROW_COLUMN } from "./batch_table.ts";
import { scienceFilesFor, sciencePlugins } from "./science_files.ts";
import { type FilterDefinition, FilterError, selectRows } from "./sql_filter.ts";
import type { OutMessage, Progress } from "./publisher.ts";
import type { FilterCounters } from "./status.ts";

/** Where the distribution publishes; a {@link TransactionalPublisher} in the service. */
export interface Sink {
  progress(topic: string, partition: number): Promise<bigint | null>;
  publish(messages: OutMessage[], progress: Progress): Promise<void>;
  /** Whether another process took the source partition over (it is then left alone). */
  lost(topic: string, partition: number): boolean;
}

/** What the distributor reads and how it names topics. */
export interface DistributorOptions {
  archive: Storage;
  science: Storage;
  sink: Sink;
  /** The filters in force (read at each round, so definitions apply at the next batch). */
  filters(): FilterDefinition[];
  counters: FilterCounters;
  /** Topic of a filter's alerts. */
  topicOf(filter: string): string;
  /** Declared science columns of plugins without results: plugin → DuckDB struct type. */
  absent: Record<string, string>;
  /** Called after a commit with summaries of the alerts each filter published, newest first. */
  onPublished(filter: string, alerts: Record<string, unknown>[]): void;
  /** How long a round waits for a science plugin that is behind (ms). */
  scienceWaitMs: number;
  /** Next offset of each science plugin per `topic+partition` (null: the plugin never ran). */
  scienceProgress(plugin: string): Promise<Map<string, bigint> | null>;
  /** Whether this process distributes a source partition now; default every one. */
  owns?(tp: { topic: string; partition: number }): boolean;
  log(message: string, fields: Record<string, unknown>): void;
}

/** Distributes what the archive holds; `round()` does one pass over every source partition. */
export class Distributor {
  readonly #next = new Map<string, bigint>();
  readonly #waitingSince = new Map<string, number>();
  readonly #writer = new AvroWriter();
  /** Struct type of each plugin's results seen so far, for files it has no results for. */
  readonly #learned = new Map<string, string>();

  constructor(private readonly options: DistributorOptions) {}

  /** Archived offsets not yet distributed, per `topic+partition`. */
  readonly lag = new Map<string, bigint>();

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
    let read = 0;
    const generation = this.#generation;
    const mine = (tp: { topic: string; partition: number }) =>
      generation === this.#generation && (this.options.owns?.(tp) ?? true) &&
      !this.options.sink.lost(tp.topic, tp.partition);
    for (const committed of await readCommittedOffsets(this.options.archive)) {
      if (signal?.aborted) return read;
      if (generation !== this.#generation) return read;
      if (!mine(committed)) continue;
      const key = `${committed.topic}+${committed.partition}`;
      let next: bigint = this.#next.get(key) ??
        await this.options.sink.progress(committed.topic, committed.partition) ?? 0n;
      if (generation !== this.#generation) return read;
      this.#next.set(key, next);
      this.lag.set(key, committed.offset + 1n - next);
      if (next > committed.offset) continue;
      const files = (await listArchivedFiles(this.options.archive, committed.topic, {
        partition: committed.partition,
      })).filter((f) => f.endOffset >= next && f.startOffset <= committed.offset)
        .sort((
          a,
          b,
        ) => (a.startOffset < b.startOffset ? -1 : a.startOffset > b.startOffset ? 1 : 0));
      while (files.length > 0 && !signal?.aborted && mine(committed)) {
        const first = files[0].startOffset > next ? files[0].startOffset : next;
        const later = files.find((f) => f.startOffset > first);
        const end = later === undefined ? committed.offset + 1n : later.startOffset;
        const round = files.filter((f) => f.startOffset < end);
        if (!(await this.#scienceReady(key, end))) return read;
        read += await this.#publish(round, { from: next, to: end }, {
          topic: committed.topic,
          partition: committed.partition,
          next: end,
        });
        next = end;
        if (generation !== this.#generation) return read;
        this.#next.set(key, next);
        this.lag.set(key, committed.offset + 1n - next);
        for (let i = files.length - 1; i >= 0; i--) {
          if (files[i].endOffset < next) files.splice(i, 1);
        }
      }
    }
    return read;
  }

  /** True once every science plugin that follows this partition has results below `end`, or the wait ran out. */
  async #scienceReady(key: string, end: bigint): Promise<boolean> {
    for (const plugin of await sciencePlugins(this.options.science)) {
      const progress = await this.options.scienceProgress(plugin);
      const at = progress?.get(key);
      if (at === undefined || at >= end) continue;
      const since = this.#waitingSince.get(key) ?? Date.now();
      this.#waitingSince.set(key, since);
      if (Date.now() - since < this.options.scienceWaitMs) return false;
      this.options.log("science results late: distributing without them", { plugin, source: key });
    }
    this.#waitingSince.delete(key);
    return true;
  }

  async #publish(
    files: ArchivedFile[],
    range: { from: bigint; to: bigint },
    progress: Progress,
  ): Promise<number> {
    const filters = this.options.filters();
    const messages: OutMessage[] = [];
    let read = 0;
    const plugins = await sciencePlugins(this.options.science);
    const passed = new Map<string, number>();
    const summaries = new Map<string, Record<string, unknown>[]>();
    for (const file of files) {
      const alerts = await parquetToTable(await this.options.archive.readFile(file.path));
      const results = await scienceFilesFor(this.options.science, plugins, file);
      const absent = { ...this.options.absent, ...Object.fromEntries(this.#learned) };
      for (const r of results) if (r.paths.length > 0) delete absent[r.plugin];
      const table = await openBatchTable({
        archive: this.options.archive,
        file: file.path,
        science: this.options.science,
        results,
        absent,
        fromOffset: range.from,
        toOffset: range.to,
      });
      try {
        for (const r of results) {
          const type = table.types.get(r.plugin);
          if (r.paths.length > 0 && type !== undefined) this.#learned.set(r.plugin, type);
        }
        read += table.rows;
        const selected = new Map<string, number[]>();
        for (const filter of filters) {
          try {
            const rows = await selectRows(filter, table);
            selected.set(filter.name, rows);
            passed.set(filter.name, (passed.get(filter.name) ?? 0) + rows.length);
            this.options.counters.evaluated(filter.name, table.rows, rows.length);
          } catch (error) {
            if (!(error instanceof FilterError)) throw error;
            this.options.counters.failed(filter.name, error.message);
            this.options.log("filter failed", { filter: filter.name, error: error.message });
          }
        }
        const wanted = [...new Set([...selected.values()].flat())];
        if (wanted.length === 0) continue;
        const encoded = await this.#encode(alerts, table, wanted, [
          ...results.map((r) => r.plugin),
          ...Object.keys(absent),
        ]);
        for (const [name, rows] of selected) {
          const list = summaries.get(name) ?? [];
          for (const row of rows.slice(-10)) list.unshift(encoded.summaries.get(row)!);
          summaries.set(name, list.slice(0, 10));
          for (const row of rows) {
            messages.push({
              topic: this.options.topicOf(name),
              key: encoded.key,
              value: encoded.values.get(row)!,
            });
          }
        }
      } finally {
        table.close();
      }
    }
    await this.options.sink.publish(messages, progress);
    for (const [name, n] of passed) this.options.counters.published(name, n);
    for (const [name, list] of summaries) this.options.onPublished(name, list);
    return read;
  }

  /** Schemaless Avro of the alerts at `rows` of the file with their science records, and the schema JSON. */
  async #encode(
    alerts: arrow.Table,
    table: BatchTable,
    rows: number[],
    plugins: string[],
  ): Promise<
    {
      key: string;
      values: Map<number, Uint8Array>;
      summaries: Map<number, Record<string, unknown>>;
    }
  > {
    const science = plugins.filter((p) => !alerts.schema.fields.some((f) => f.name === p));
    const columns = science.map((p) => `"${p.replaceAll('"', '""')}"`).join(", ");
    const reader = await table.connection.runAndReadAll(
      `SELECT ${ROW_COLUMN}${
        columns ? `, ${columns}` : ""
      } FROM ${BATCH_TABLE} WHERE ${ROW_COLUMN} IN (${rows.join(", ")})`,
    );
    const types = reader.columnTypes();
    const record = messageRecord([
      ...alerts.schema.fields.map((f) => ({
        name: avroName(f.name),
        source: f.name,
        node: nodeOfArrow(avroName(f.name), f.type),
      })),
      ...science.map((p, i) => ({
        name: avroName(p),
        source: p,
        node: withoutId(nodeOfDuckDB(avroName(p), types[i + 1])),
      })),
    ]);
    const values = new Map<number, Uint8Array>();
    const summaries = new Map<number, Record<string, unknown>>();
    for (const row of reader.getRowObjectsJS()) {
      const index = Number(row[ROW_COLUMN]);
      const value = alerts.get(index)!.toJSON() as Record<string, unknown>;
      for (const p of science) value[p] = row[p];
      values.set(index, this.#writer.encode(record, value));
      summaries.set(index, summary(value));
    }
    return { key: JSON.stringify(schemaJson(record)), values, summaries };
  }
}

function withoutId<T>(node: T): T {
  const n = node as { kind: string; fields?: { name: string }[] };
  if (n.kind === "record" && n.fields) n.fields = n.fields.filter((f) => f.name !== "id");
  return node;
}

/** What the streams page shows of an alert: ids, position, magnitude and class when known. */
function summary(value: Record<string, unknown>): Record<string, unknown> {
  const candidate = (value.candidate ?? {}) as Record<string, unknown>;
  const classify = (value.classify ?? {}) as Record<string, unknown> | null;
  const id = value.candid ?? value.diaSourceId ?? value.alertId;
  return {
    objectId: value.objectId ?? null,
    id: id === undefined || id === null ? null : String(id),
    ra: candidate.ra ?? null,
    dec: candidate.dec ?? null,
    magpsf: candidate.magpsf ?? null,
    class: classify?.class ?? null,
  };
}

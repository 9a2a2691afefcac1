/**
 * Filters that are plugins (`kind: "filter"`): the distribution hands each
 * one the rows of a batch with the columns it asked for plus one struct
 * column per science plugin it names (the values the SQL filters saw, joined
 * by alert id), and publishes the alerts whose ids it returns.
 */
import * as arrow from "apache-arrow";
import { alertIds, type ArchivedFile, parquetToTable } from "../archive/reader.ts";
import { readColumns } from "../plugins/archive_batches.ts";
import type { PluginBatch } from "../plugins/host.ts";
import type { AvroNode } from "./avro_record.ts";
import type { Evaluation } from "./filter_engine.ts";

/** A filter plugin that runs now. */
export interface FilterPlugin {
  name: string;
  /** Top-level alert columns it reads; every column when undefined. */
  columns?: string[];
  /** Science plugins whose results it is given. */
  science: string[];
  /**
   * The ids of the alerts of `batch` that pass and the alerts `process` threw on; rejects
   * with the reason, on one line naming the plugin, when it gave no answer.
   */
  select(
    batch: PluginBatch,
  ): Promise<{ passed: bigint[]; failed: { id: bigint; reason: string }[] }>;
}

/** A filter plugin's batch and, per alert id, the file row it came from. */
export interface FilterPluginBatch {
  batch: PluginBatch;
  rowOf: Map<bigint, number>;
}

/**
 * The rows `evaluation` covers of an archived file, with the columns the
 * plugin reads and its science inputs; undefined when the file has no alert ids.
 */
export async function filterPluginBatch(
  parquet: Uint8Array,
  file: ArchivedFile,
  evaluation: Evaluation,
  plugin: FilterPlugin,
): Promise<FilterPluginBatch | undefined> {
  const table = rowsOf(await parquetToTable(parquet, readColumns(plugin.columns)), evaluation.rows);
  const found = alertIds(table);
  if (found === undefined || table.numRows === 0) return undefined;
  const columns: Record<string, arrow.Vector> = {};
  for (const field of table.schema.fields) columns[field.name] = table.getChild(field.name)!;
  for (const name of plugin.science) {
    const science = evaluation.science.find((s) => s.plugin === name);
    if (science === undefined || science.field.node.kind !== "record") continue;
    const values = Array.from(evaluation.rows, (row) => evaluation.values.get(row)?.[name] ?? null);
    columns[name] = arrow.vectorFromArray(values, arrowType(science.field.node));
  }
  const offsets = table.getChild("kafka_offset");
  const rowOf = new Map<bigint, number>();
  found.ids.forEach((id, i) => rowOf.set(id, evaluation.rows[i]));
  return {
    batch: {
      table: new arrow.Table(columns),
      topic: file.topic,
      partition: file.partition,
      startOffset: BigInt(offsets?.get(0) ?? file.startOffset),
      endOffset: BigInt(offsets?.get(table.numRows - 1) ?? file.endOffset),
      ids: found.ids,
      eventHours: new Array<number>(table.numRows).fill(file.hour),
    },
    rowOf,
  };
}

/** The rows `rows` (ascending file row numbers) of `table`, as slices of its runs. */
function rowsOf(table: arrow.Table, rows: Int32Array): arrow.Table {
  if (rows.length === table.numRows) return table;
  const slices: arrow.Table[] = [];
  let start = 0;
  for (let i = 1; i <= rows.length; i++) {
    if (i < rows.length && rows[i] === rows[i - 1] + 1) continue;
    slices.push(table.slice(rows[start], rows[i - 1] + 1));
    start = i;
  }
  return slices.length === 0 ? table.slice(0, 0) : slices[0].concat(...slices.slice(1));
}

/** The Arrow type of a science value as the filter stage typed it. */
function arrowType(node: AvroNode): arrow.DataType {
  switch (node.kind) {
    case "boolean":
      return new arrow.Bool();
    case "int":
      return new arrow.Int32();
    case "long":
      return new arrow.Int64();
    case "float":
      return new arrow.Float32();
    case "double":
      return new arrow.Float64();
    case "bytes":
      return new arrow.Binary();
    case "timestamp":
      return new arrow.TimestampMillisecond();
    case "record":
      return new arrow.Struct(
        node.fields.map((f) => new arrow.Field(f.source, arrowType(f.node), true)),
      );
    case "array":
      return new arrow.List(new arrow.Field("item", arrowType(node.items), true));
    default:
      return new arrow.Utf8();
  }
}

/**
 * Encodes the passing alerts of one archived file as distribution messages:
 * the Parquet file is decoded, each wanted row is written as one schemaless
 * Avro record (the alert's columns straight from Arrow, then one record per
 * science plugin from the values the filter stage read), and the schema goes
 * with them as JSON, the messages' key. Pure and deterministic, so it runs in
 * Workers (encoder_pool.ts); nothing here reads the clock.
 */
import type * as arrow from "apache-arrow";
import { alertIds, alertObjectIds, parquetToTable } from "../archive/reader.ts";
import { compileRecord, type RowWriter } from "./arrow_avro.ts";
import type { ScienceValues } from "./filter_engine.ts";
import { AvroBuffer } from "./avro_buffer.ts";
import {
  type AvroField,
  avroName,
  AvroWriter,
  messageRecord,
  nodeOfArrow,
  schemaJson,
} from "./avro_record.ts";

/** What to encode of one archived file. */
export interface EncodeJob {
  /** The archived Parquet file: its bytes, or a local path to read it from. */
  parquet: Uint8Array | string;
  /** Rows of the file to encode (file row numbers), in ascending order. */
  rows: Int32Array;
  /** The science records: one field per plugin (its Avro node from the filter stage)... */
  scienceFields: AvroField[];
  /** ...and for each row of `rows`, the plugins' values by plugin name (null when none). */
  scienceValues: (ScienceValues | null)[];
}

/** What the streams page shows of a published alert: ids, position, magnitude and class when known. */
export interface PublishedAlert {
  objectId: string | null;
  /** The alert id (`candid`, `diaSourceId` or `alertId`) as text: it is 64-bit. */
  id: string | null;
  ra: number | null;
  dec: number | null;
  magpsf: number | null;
  /** The `classify` plugin's class, when it has a result for the alert. */
  class: string | null;
}

/** The encoded messages of a job, one per row of `rows`, in that order. */
export interface EncodedAlerts {
  /** The Avro schema as JSON: the key of every message. */
  key: string;
  /** The values back to back: message `i` is `data[ends[i - 1] ?? 0 .. ends[i])`. */
  data: Uint8Array;
  ends: Uint32Array;
  /** Per message, a hash of the alert's object id: its alerts stay on one partition. */
  partitionKeys: Uint32Array;
  summaries: PublishedAlert[];
}

/**
 * Memory the encoding may reuse instead of allocating afresh (a file read and
 * a message buffer of 20 MB each for 500 ZTF alerts: fresh memory costs page
 * faults and garbage collections, reused memory does not).
 */
export interface EncodeScratch {
  /** Where a local file is read; grown as needed and kept. */
  read?: Uint8Array;
  /** Where the messages are written; it becomes the result's `data`. */
  out?: ArrayBuffer;
}

/** Encodes a job; see the module documentation. */
export async function encodeAlerts(
  job: EncodeJob,
  scratch: EncodeScratch = {},
): Promise<EncodedAlerts> {
  const table = await parquetToTable(
    typeof job.parquet === "string" ? await readInto(job.parquet, scratch) : job.parquet,
  );
  const columns = new Set(table.schema.fields.map((f) => f.name));
  const science = job.scienceFields.filter((f) => !columns.has(f.source));
  const alertFields: AvroField[] = table.schema.fields.map((f) => ({
    name: avroName(f.name),
    source: f.name,
    node: nodeOfArrow(avroName(f.name), f.type),
  }));
  const out = new AvroBuffer(Math.max(64 * 1024, job.rows.length * 48 * 1024), scratch.out);
  const writer = new AvroWriter(out);
  const writers = batchWriters(table, alertFields, out);
  const ends = new Uint32Array(job.rows.length);
  for (let i = 0; i < job.rows.length; i++) {
    writers(job.rows[i]);
    const values = job.scienceValues[i];
    for (const field of science) writer.union(field.node, values?.[field.source] ?? null);
    ends[i] = out.at;
  }
  const { partitionKeys, summaries } = describeRows(table, job);
  return {
    key: JSON.stringify(schemaJson(messageRecord([...alertFields, ...science]))),
    data: out.written(),
    ends,
    partitionKeys,
    summaries,
  };
}

/** The file's bytes, read into `scratch.read` (grown when too small). */
async function readInto(path: string, scratch: EncodeScratch): Promise<Uint8Array> {
  using file = await Deno.open(path);
  const size = (await file.stat()).size;
  if ((scratch.read?.byteLength ?? 0) < size) scratch.read = new Uint8Array(size * 1.25);
  const bytes = scratch.read!.subarray(0, size);
  let at = 0;
  while (at < size) {
    const n = await file.read(bytes.subarray(at));
    if (n === null) throw new Error(`${path} ended after ${at} of its ${size} bytes`);
    at += n;
  }
  return bytes;
}

/** A writer of the alert columns of any row of `table`, whatever record batch holds it. */
function batchWriters(table: arrow.Table, fields: AvroField[], out: AvroBuffer): RowWriter {
  const starts: number[] = [];
  const writers: RowWriter[] = [];
  let start = 0;
  for (const batch of table.batches) {
    starts.push(start);
    writers.push(compileRecord(fields, batch, out));
    start += batch.numRows;
  }
  return (row) => {
    let b = starts.length - 1;
    while (starts[b] > row) b--;
    writers[b](row - starts[b]);
  };
}

function describeRows(
  table: arrow.Table,
  job: EncodeJob,
): { partitionKeys: Uint32Array; summaries: PublishedAlert[] } {
  const objects = alertObjectIds(table);
  const ids = alertIds(table)?.ids;
  const candidate = table.getChild("candidate");
  const field = (name: string) => candidate?.getChild(name) ?? null;
  const [ra, dec, magpsf] = [field("ra"), field("dec"), field("magpsf")];
  const partitionKeys = new Uint32Array(job.rows.length);
  const summaries = Array.from(job.rows, (row, i): PublishedAlert => {
    const objectId = objects?.[row] ?? null;
    const id = ids === undefined ? null : String(ids[row]);
    partitionKeys[i] = fnv1a(objectId ?? id ?? String(row));
    const classify = job.scienceValues[i]?.classify;
    return {
      objectId,
      id,
      ra: numberOrNull(ra?.get(row)),
      dec: numberOrNull(dec?.get(row)),
      magpsf: numberOrNull(magpsf?.get(row)),
      class: typeof classify?.class === "string" ? classify.class : null,
    };
  });
  return { partitionKeys, summaries };
}

function numberOrNull(value: unknown): number | null {
  return typeof value === "number" ? value : null;
}

/** FNV-1a of a string's UTF-16 code units: cheap, stable, well spread. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

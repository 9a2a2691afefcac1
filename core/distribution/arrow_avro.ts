/**
 * Avro records written straight from Arrow columns: each field of the message
 * schema is compiled once per record batch into a function that reads row `i`
 * from the column's buffers (validity bits, values, offsets) and appends its
 * encoding, so strings and bytes (the cutouts) are copied as they lie, with no
 * JavaScript value made per field. It writes exactly what {@link AvroWriter}
 * writes for the same row read as an object (a contract test checks it on
 * every survey of the shared data).
 */
import * as arrow from "apache-arrow";
import type { AvroBuffer } from "./avro_buffer.ts";
import { type AvroField, type AvroNode, NULL_BRANCH, VALUE_BRANCH } from "./avro_record.ts";

/** Appends the encoding of one row (an index into the compiled record batch). */
export type RowWriter = (row: number) => void;

type Data = arrow.Data;

/**
 * Compiles `fields` (their `source` names columns of `batch`) into a writer
 * of record rows appending to `out`; a column `batch` lacks is written as null.
 *
 * @throws Error naming a column whose Arrow type cannot be written as its node
 */
export function compileRecord(
  fields: readonly AvroField[],
  batch: arrow.RecordBatch,
  out: AvroBuffer,
): RowWriter {
  const names = batch.schema.fields.map((f) => f.name);
  const writers = fields.map((field) => {
    const index = names.indexOf(field.source);
    if (index < 0) return nullWriter(field.node, out);
    return union(field.node, batch.data.children[index], out, field.source);
  });
  return (row) => {
    for (let i = 0; i < writers.length; i++) writers[i](row);
  };
}

function nullWriter(node: AvroNode, out: AvroBuffer): RowWriter {
  return node.kind === "null" ? () => {} : () => out.byte(NULL_BRANCH);
}

/** A `[type, "null"]` union read from `data`'s validity bits. */
function union(node: AvroNode, data: Data, out: AvroBuffer, path: string): RowWriter {
  if (node.kind === "null") return () => {};
  const write = value(node, data, out, path);
  const bitmap = data.nullBitmap;
  if (data.nullCount === 0 || bitmap === undefined || bitmap.byteLength === 0) {
    return (row) => {
      out.byte(VALUE_BRANCH);
      write(row);
    };
  }
  const offset = data.offset;
  return (row) => {
    const bit = offset + row;
    if ((bitmap[bit >> 3] & (1 << (bit & 7))) === 0) {
      out.byte(NULL_BRANCH);
      return;
    }
    out.byte(VALUE_BRANCH);
    write(row);
  };
}

/** The writer of a (non-null) value of `data` as `node`. */
function value(node: AvroNode, data: Data, out: AvroBuffer, path: string): RowWriter {
  const type = data.type as arrow.DataType;
  const refuse = () =>
    new Error(`Column ${path} has Arrow type ${type} that cannot be written as Avro ${node.kind}`);
  switch (node.kind) {
    case "null":
      return () => {};
    case "boolean": {
      if (!arrow.DataType.isBool(type)) throw refuse();
      const { values, offset } = data;
      return (row) => {
        const bit = offset + row;
        out.byte((values[bit >> 3] >> (bit & 7)) & 1);
      };
    }
    case "int": {
      if (!arrow.DataType.isInt(type) || type.bitWidth === 64) throw refuse();
      const values = data.values as Int32Array;
      return (row) => out.int(values[row]);
    }
    case "long": {
      if (!arrow.DataType.isInt(type) || type.bitWidth !== 64) throw refuse();
      const halves = int64Halves(data);
      return (row) => out.long(halves[2 * row + 1], halves[2 * row]);
    }
    case "timestamp": {
      if (!arrow.DataType.isTimestamp(type)) throw refuse();
      const halves = int64Halves(data);
      const values = data.values as BigInt64Array;
      // Avro's timestamp-millis; finer units are truncated, as Arrow's own reading does.
      const perMs = [1000n, 1n, 1000n, 1000000n][type.unit];
      if (type.unit === arrow.TimeUnit.MILLISECOND) {
        return (row) => out.long(halves[2 * row + 1], halves[2 * row]);
      }
      if (type.unit === arrow.TimeUnit.SECOND) return (row) => out.bigint(values[row] * perMs);
      return (row) => out.bigint(values[row] / perMs);
    }
    case "float": {
      if (!arrow.DataType.isFloat(type) || type.precision !== arrow.Precision.SINGLE) {
        throw refuse();
      }
      const values = data.values as Float32Array;
      return (row) => out.float(values[row]);
    }
    case "double": {
      if (!arrow.DataType.isFloat(type)) throw refuse();
      if (type.precision === arrow.Precision.HALF) {
        const vector = arrow.makeVector(data);
        return (row) => out.double(vector.get(row) as number);
      }
      const values = data.values as Float64Array;
      return (row) => out.double(values[row]);
    }
    case "string":
    case "bytes":
      return variableWidth(data, out, refuse);
    case "record": {
      if (!arrow.DataType.isStruct(type)) throw refuse();
      const names = type.children.map((f) => f.name);
      const writers = node.fields.map((field) => {
        const index = names.indexOf(field.source);
        if (index < 0) return nullWriter(field.node, out);
        return union(field.node, data.children[index], out, `${path}.${field.source}`);
      });
      return (row) => {
        for (let i = 0; i < writers.length; i++) writers[i](row);
      };
    }
    case "array": {
      if (!arrow.DataType.isList(type)) throw refuse();
      const offsets = data.valueOffsets as Int32Array;
      const item = union(node.items, data.children[0], out, `${path}[]`);
      return (row) => {
        const begin = offsets[row];
        const end = offsets[row + 1];
        if (end > begin) {
          out.int(end - begin);
          for (let j = begin; j < end; j++) item(j);
        }
        out.int(0);
      };
    }
    case "map": {
      if (!arrow.DataType.isMap(type)) throw refuse();
      const offsets = data.valueOffsets as Int32Array;
      const entries = data.children[0];
      const key = mapKey(entries.children[0], out);
      const item = union(node.values, entries.children[1], out, `${path}{}`);
      return (row) => {
        const begin = offsets[row];
        const end = offsets[row + 1];
        if (end > begin) {
          out.int(end - begin);
          for (let j = begin; j < end; j++) {
            key(j);
            item(j);
          }
        }
        out.int(0);
      };
    }
  }
}

/** Strings and bytes, copied from the column's data buffer as they lie. */
function variableWidth(data: Data, out: AvroBuffer, refuse: () => Error): RowWriter {
  const type = data.type as arrow.DataType;
  const values = data.values as Uint8Array;
  if (arrow.DataType.isFixedSizeBinary(type)) {
    const width = type.byteWidth;
    return (row) => out.bytes(values.subarray(row * width, (row + 1) * width));
  }
  const kind = type.typeId;
  if (kind === arrow.Type.Utf8 || kind === arrow.Type.Binary) {
    const offsets = data.valueOffsets as Int32Array;
    return (row) => out.bytes(values.subarray(offsets[row], offsets[row + 1]));
  }
  if (kind === arrow.Type.LargeUtf8 || kind === arrow.Type.LargeBinary) {
    const offsets = data.valueOffsets as unknown as BigInt64Array;
    return (row) => out.bytes(values.subarray(Number(offsets[row]), Number(offsets[row + 1])));
  }
  throw refuse();
}

/** An Avro map key (always a string) from the entries' key column. */
function mapKey(data: Data, out: AvroBuffer): RowWriter {
  const kind = (data.type as arrow.DataType).typeId;
  if (kind === arrow.Type.Utf8) {
    const values = data.values as Uint8Array;
    const offsets = data.valueOffsets as Int32Array;
    return (row) => out.bytes(values.subarray(offsets[row], offsets[row + 1]));
  }
  const vector = arrow.makeVector(data);
  return (row) => out.string(String(vector.get(row)));
}

/** The low and high 32-bit halves of an int64 column's values (little-endian). */
function int64Halves(data: Data): Int32Array {
  const values = data.values as BigInt64Array;
  return new Int32Array(values.buffer, values.byteOffset, values.length * 2);
}

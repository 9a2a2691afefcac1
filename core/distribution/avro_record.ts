/**
 * The message format of the distribution, as Fink's distribution schemas
 * (written by Spark) have it, so that fink-client reads it unchanged: one
 * Avro record named `topLevelRecord`, every field a union `[type, "null"]`,
 * nested records named after their field in namespace `topLevelRecord`, arrays
 * of `[item, "null"]`. The alert's columns come from the archived Arrow
 * schema; each science plugin adds one nested record named after it. Values
 * are written as schemaless Avro (no container, no header).
 */
import * as arrow from "apache-arrow";
import { type DuckDBType, DuckDBTypeId } from "@duckdb/node-api";

/** One Avro type of the output schema, with what the encoder needs. */
export type AvroNode =
  | { kind: "null" | "boolean" | "int" | "long" | "float" | "double" | "string" | "bytes" }
  | { kind: "timestamp" }
  | { kind: "record"; name: string; namespace: string; fields: AvroField[] }
  | { kind: "array"; items: AvroNode }
  | { kind: "map"; values: AvroNode };

/** A record field: its Avro name and the column it is read from (they differ when the column is not a valid Avro name). */
export interface AvroField {
  name: string;
  source: string;
  node: AvroNode;
}

const TOP = "topLevelRecord";

/**
 * A valid Avro name for a column: `[A-Za-z_][A-Za-z0-9_]*`, so classify's
 * `3hsp` becomes `_3hsp`.
 */
export function avroName(column: string): string {
  const clean = column.replace(/[^A-Za-z0-9_]/g, "_");
  return /^[A-Za-z_]/.test(clean) ? clean : `_${clean}`;
}

/** The Avro node of an Arrow field's type (nested records get `namespace`). */
export function nodeOfArrow(name: string, type: arrow.DataType, namespace = TOP): AvroNode {
  switch (type.typeId) {
    case arrow.Type.Null:
      return { kind: "null" };
    case arrow.Type.Bool:
      return { kind: "boolean" };
    case arrow.Type.Int:
      return { kind: (type as arrow.Int).bitWidth === 64 ? "long" : "int" };
    case arrow.Type.Float:
      return {
        kind: (type as arrow.Float).precision === arrow.Precision.SINGLE ? "float" : "double",
      };
    case arrow.Type.Utf8:
    case arrow.Type.LargeUtf8:
      return { kind: "string" };
    case arrow.Type.Binary:
    case arrow.Type.LargeBinary:
    case arrow.Type.FixedSizeBinary:
      return { kind: "bytes" };
    case arrow.Type.Timestamp:
      return { kind: "timestamp" };
    case arrow.Type.Struct:
      return {
        kind: "record",
        name,
        namespace,
        fields: (type as arrow.Struct).children.map((f) => ({
          name: avroName(f.name),
          source: f.name,
          node: nodeOfArrow(avroName(f.name), f.type, `${namespace}.${name}`),
        })),
      };
    case arrow.Type.List:
      return {
        kind: "array",
        items: nodeOfArrow(name, (type as arrow.List).children[0].type, namespace),
      };
    case arrow.Type.Map: {
      // An Avro map archived as an Arrow Map (entries of key, value): keys are strings in Avro.
      const entries = (type as arrow.Map_).children[0].type as arrow.Struct;
      return { kind: "map", values: nodeOfArrow(name, entries.children[1].type, namespace) };
    }
    default:
      throw new Error(`Column ${name} has Arrow type ${type} that the distribution cannot encode`);
  }
}

/** The Avro node of a DuckDB column type (science results read from the batch table). */
export function nodeOfDuckDB(name: string, type: DuckDBType, namespace = TOP): AvroNode {
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return { kind: "boolean" };
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
      return { kind: "int" };
    case DuckDBTypeId.BIGINT:
      return { kind: "long" };
    case DuckDBTypeId.FLOAT:
      return { kind: "float" };
    case DuckDBTypeId.DOUBLE:
      return { kind: "double" };
    case DuckDBTypeId.VARCHAR:
      return { kind: "string" };
    case DuckDBTypeId.BLOB:
      return { kind: "bytes" };
    case DuckDBTypeId.STRUCT: {
      const struct = type as unknown as { entryNames: string[]; entryTypes: DuckDBType[] };
      return {
        kind: "record",
        name,
        namespace,
        fields: struct.entryNames.map((n, i) => ({
          name: avroName(n),
          source: n,
          node: nodeOfDuckDB(avroName(n), struct.entryTypes[i], `${namespace}.${name}`),
        })),
      };
    }
    default:
      return { kind: "string" };
  }
}

/** The top-level record of a message: the alert's fields, then one record per science plugin. */
export function messageRecord(fields: AvroField[]): AvroNode {
  return { kind: "record", name: TOP, namespace: "", fields };
}

/** The Avro schema JSON of a node, as fink-client parses it from the message key. */
export function schemaJson(node: AvroNode): unknown {
  switch (node.kind) {
    case "record": {
      const fields = node.fields.map((f) => ({ name: f.name, type: nullable(schemaJson(f.node)) }));
      return node.namespace === ""
        ? { type: "record", name: node.name, fields }
        : { type: "record", name: node.name, namespace: node.namespace, fields };
    }
    case "array":
      return { type: "array", items: nullable(schemaJson(node.items)) };
    case "map":
      return { type: "map", values: nullable(schemaJson(node.values)) };
    case "timestamp":
      return { type: "long", logicalType: "timestamp-millis" };
    default:
      return node.kind;
  }
}

/** The key/value pairs of a map value: an Arrow map row or a JS Map iterate as pairs, an object by its entries. */
function mapEntries(value: unknown): [unknown, unknown][] {
  if (value instanceof Map) return [...value.entries()];
  if (typeof (value as Iterable<unknown>)[Symbol.iterator] === "function") {
    return [...(value as Iterable<[unknown, unknown]>)];
  }
  return Object.entries(value as Record<string, unknown>);
}

function nullable(type: unknown): unknown {
  return type === "null" ? "null" : [type, "null"];
}

/** Appends the schemaless Avro encoding of records. */
export class AvroWriter {
  #buf = new Uint8Array(64 * 1024);
  #view = new DataView(this.#buf.buffer);
  #at = 0;
  static #text = new TextEncoder();

  /** Encodes one record value (an object, an Arrow struct row) and returns its bytes. */
  encode(node: AvroNode, value: unknown): Uint8Array {
    this.#at = 0;
    this.#value(node, value);
    return this.#buf.slice(0, this.#at);
  }

  #value(node: AvroNode, value: unknown): void {
    switch (node.kind) {
      case "null":
        return;
      case "boolean":
        this.#need(1);
        this.#buf[this.#at++] = value ? 1 : 0;
        return;
      case "int":
      case "long":
      case "timestamp":
        if (typeof value === "bigint") this.#long(value);
        else this.#number(Number(value));
        return;
      case "float":
        this.#need(4);
        this.#view.setFloat32(this.#at, Number(value), true);
        this.#at += 4;
        return;
      case "double":
        this.#need(8);
        this.#view.setFloat64(this.#at, Number(value), true);
        this.#at += 8;
        return;
      case "string":
        this.#bytes(AvroWriter.#text.encode(String(value)));
        return;
      case "bytes":
        this.#bytes(value as Uint8Array);
        return;
      case "record":
        for (const field of node.fields) {
          this.#union(field.node, (value as Record<string, unknown>)[field.source]);
        }
        return;
      case "array": {
        const items = [...(value as Iterable<unknown>)];
        if (items.length > 0) {
          this.#number(items.length);
          for (const item of items) this.#union(node.items, item);
        }
        this.#number(0);
        return;
      }
      case "map": {
        const entries = mapEntries(value);
        if (entries.length > 0) {
          this.#number(entries.length);
          for (const [key, item] of entries) {
            this.#bytes(AvroWriter.#text.encode(String(key)));
            this.#union(node.values, item);
          }
        }
        this.#number(0);
        return;
      }
    }
  }

  /** A `[type, "null"]` union: branch 0 holds the value, branch 1 is null. */
  #union(node: AvroNode, value: unknown): void {
    if (node.kind === "null") return;
    if (value === null || value === undefined) {
      this.#need(1);
      this.#buf[this.#at++] = 2;
      return;
    }
    this.#need(1);
    this.#buf[this.#at++] = 0;
    this.#value(node, value);
  }

  #long(n: bigint): void {
    let z = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));
    this.#need(10);
    while (z >= 0x80n) {
      this.#buf[this.#at++] = Number(z & 0x7fn) | 0x80;
      z >>= 7n;
    }
    this.#buf[this.#at++] = Number(z);
  }

  /** A zig-zag varint of a safe integer, without BigInt (the common case). */
  #number(n: number): void {
    if (!Number.isSafeInteger(n) || Math.abs(n) > 2 ** 52) {
      this.#long(BigInt(Math.trunc(n)));
      return;
    }
    let z = n >= 0 ? n * 2 : -n * 2 - 1;
    this.#need(10);
    while (z >= 0x80) {
      this.#buf[this.#at++] = (z % 0x80) | 0x80;
      z = Math.floor(z / 0x80);
    }
    this.#buf[this.#at++] = z;
  }

  #bytes(b: Uint8Array): void {
    this.#number(b.byteLength);
    this.#need(b.byteLength);
    this.#buf.set(b, this.#at);
    this.#at += b.byteLength;
  }

  #need(n: number): void {
    if (this.#at + n <= this.#buf.byteLength) return;
    const bigger = new Uint8Array(Math.max(this.#buf.byteLength * 2, this.#at + n));
    bigger.set(this.#buf.subarray(0, this.#at));
    this.#buf = bigger;
    this.#view = new DataView(bigger.buffer);
  }
}

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
import { AvroBuffer } from "./avro_buffer.ts";

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

/** Name of the message record, and namespace of its nested records (Spark's convention). */
export const TOP = "topLevelRecord";

/** The zig-zag varint of a `[type, "null"]` union's branch 0 (the value)... */
export const VALUE_BRANCH = 0;
/** ...and of its branch 1 (null). */
export const NULL_BRANCH = 2;

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

/**
 * Writes values (objects, Arrow struct rows, Maps) as schemaless Avro; the
 * science results, which come from DuckDB as objects, are written with it.
 */
export class AvroWriter {
  /** A writer appending to `out`. */
  constructor(readonly out: AvroBuffer = new AvroBuffer()) {}

  /** Encodes one record value and returns a copy of its bytes (the buffer is reused). */
  encode(node: AvroNode, value: unknown): Uint8Array {
    this.out.at = 0;
    this.write(node, value);
    return this.out.written().slice();
  }

  /** Appends the encoding of `value` as `node` to the buffer. */
  write(node: AvroNode, value: unknown): void {
    const out = this.out;
    switch (node.kind) {
      case "null":
        return;
      case "boolean":
        out.byte(value ? 1 : 0);
        return;
      case "int":
      case "long":
      case "timestamp":
        if (typeof value === "bigint") out.bigint(value);
        else out.int(Number(value));
        return;
      case "float":
        out.float(Number(value));
        return;
      case "double":
        out.double(Number(value));
        return;
      case "string":
        out.string(String(value));
        return;
      case "bytes":
        out.bytes(value as Uint8Array);
        return;
      case "record":
        for (const field of node.fields) {
          this.union(field.node, (value as Record<string, unknown>)[field.source]);
        }
        return;
      case "array": {
        const items = [...(value as Iterable<unknown>)];
        if (items.length > 0) {
          out.int(items.length);
          for (const item of items) this.union(node.items, item);
        }
        out.int(0);
        return;
      }
      case "map": {
        const entries = mapEntries(value);
        if (entries.length > 0) {
          out.int(entries.length);
          for (const [key, item] of entries) {
            out.string(String(key));
            this.union(node.values, item);
          }
        }
        out.int(0);
        return;
      }
    }
  }

  /** A `[type, "null"]` union: branch 0 holds the value, branch 1 is null. */
  union(node: AvroNode, value: unknown): void {
    if (node.kind === "null") return;
    if (value === null || value === undefined) {
      this.out.byte(NULL_BRANCH);
      return;
    }
    this.out.byte(VALUE_BRANCH);
    this.write(node, value);
  }
}

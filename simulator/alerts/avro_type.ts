/**
 * Avro types whose `long` values are bigints, so 64-bit ids such as ZTF candids
 * (> 2^53) round-trip exactly, built from schemas whose invalid defaults are repaired.
 */
import avro from "avsc";
import { Buffer } from "node:buffer";

/** An avsc type built by {@link avroType}: longs are read and written as bigint. */
export type AvroType = avro.Type;

function compareBigints(a: bigint, b: bigint): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

const BIGINT_LONG = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(n);
    return buf;
  },
  fromJSON: (json: unknown) => BigInt(json as string | number),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === "bigint",
  compare: compareBigints,
});

function isNullType(type: unknown): boolean {
  return type === "null" || (typeof type === "object" && type !== null &&
    (type as { type?: unknown }).type === "null");
}

/** Avro only lets a default match a union's first branch; null defaults need a nullable type. */
function defaultIsValid(type: unknown, value: unknown): boolean {
  if (Array.isArray(type)) {
    return type.length > 0 && defaultIsValid(type[0], value);
  }
  return isNullType(type) === (value === null);
}

function repairNode(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(repairNode);
  if (typeof node !== "object" || node === null) return node;
  const out: Record<string, unknown> = { ...node as Record<string, unknown> };
  if (Array.isArray(out.fields)) {
    out.fields = out.fields.map((field: Record<string, unknown>) => {
      const repaired: Record<string, unknown> = { ...field, type: repairNode(field.type) };
      if ("default" in repaired && !defaultIsValid(repaired.type, repaired.default)) {
        delete repaired.default;
      }
      return repaired;
    });
  }
  if (out.items !== undefined) out.items = repairNode(out.items);
  if (out.values !== undefined) out.values = repairNode(out.values);
  if (typeof out.type === "object") out.type = repairNode(out.type);
  return out;
}

/**
 * A copy of a parsed Avro schema without the field defaults that contradict their
 * type (ZTF writes `["float", "null"]` with default null, Spark `["null", ...]` with 0).
 * Defaults only matter for reader-side resolution, so decoding with the writer schema
 * is unchanged.
 */
export function repairSchemaDefaults(schema: unknown): unknown {
  return repairNode(schema);
}

/**
 * An avsc type for a parsed Avro schema (object or JSON text) with bigint longs and
 * repaired defaults. Throws avsc's error when the schema is not valid Avro.
 */
export function avroType(schema: unknown): AvroType {
  const parsed = typeof schema === "string" ? JSON.parse(schema) : schema;
  return avro.Type.forSchema(repairSchemaDefaults(parsed) as avro.Schema, {
    registry: { long: BIGINT_LONG },
  });
}

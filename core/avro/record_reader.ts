/**
 * Avro binary → plain JS values, compiled once per type into a tree of
 * closures. Mapping: long → bigint (exact, ids exceed 2^53), int/float/double
 * → number, bytes/fixed → Uint8Array, enum → symbol string, map → object,
 * union → the branch's value (unwrapped, like fastavro), logical types → their
 * underlying value (timestamp-micros stays a bigint of microseconds).
 */
import { DecodeError } from "./errors.ts";
import type { AvroType } from "./schema.ts";
import { Tap } from "./tap.ts";

/** Reads one value of a compiled type from a tap. */
export type ValueReader = (tap: Tap) => unknown;

const compiled = new WeakMap<AvroType, ValueReader>();

/** Returns the (cached) reader for `type`. */
export function compileReader(type: AvroType): ValueReader {
  const cached = compiled.get(type);
  if (cached) return cached;
  if (type.type === "record") {
    // Registered before the fields compile, so recursive types find themselves.
    let fieldReaders: ValueReader[] = [];
    const names = type.fields.map((f) => f.name);
    const reader: ValueReader = (tap) => {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < fieldReaders.length; i++) out[names[i]] = fieldReaders[i](tap);
      return out;
    };
    compiled.set(type, reader);
    fieldReaders = type.fields.map((f) => compileReader(f.type));
    return reader;
  }
  const reader = compileNonRecord(type);
  compiled.set(type, reader);
  return reader;
}

function compileNonRecord(type: Exclude<AvroType, { type: "record" }>): ValueReader {
  switch (type.type) {
    case "null":
      return () => null;
    case "boolean":
      return (tap) => tap.readBoolean();
    case "int":
      return (tap) => tap.readLongNumber();
    case "long":
      return (tap) => tap.readLong();
    case "float":
      return (tap) => tap.readFloat();
    case "double":
      return (tap) => tap.readDouble();
    case "bytes":
      return (tap) => tap.readBytes();
    case "string":
      return (tap) => tap.readString();
    case "fixed": {
      const size = type.size;
      return (tap) => tap.readFixed(size);
    }
    case "enum": {
      const symbols = type.symbols;
      return (tap) => symbols[checkedIndex(tap.readLongNumber(), symbols.length, type.name)];
    }
    case "array": {
      const item = compileReader(type.items);
      return (tap) => {
        const out: unknown[] = [];
        for (let n = readBlockCount(tap); n > 0; n = readBlockCount(tap)) {
          for (let i = 0; i < n; i++) out.push(item(tap));
        }
        return out;
      };
    }
    case "map": {
      const value = compileReader(type.values);
      return (tap) => {
        const out: Record<string, unknown> = {};
        for (let n = readBlockCount(tap); n > 0; n = readBlockCount(tap)) {
          for (let i = 0; i < n; i++) {
            const key = tap.readString();
            out[key] = value(tap);
          }
        }
        return out;
      };
    }
    case "union": {
      const branches = type.branches.map(compileReader);
      return (tap) => branches[checkedIndex(tap.readLongNumber(), branches.length, "union")](tap);
    }
  }
}

/** Reads an array/map block count; a negative count is followed by the block size in bytes. */
export function readBlockCount(tap: Tap): number {
  let n = tap.readLongNumber();
  if (n < 0) {
    n = -n;
    tap.readLongNumber();
  }
  // Every item takes at least one byte except nulls; a count beyond the bytes left is corrupt.
  if (n > tap.end - tap.pos + 1) {
    throw new DecodeError(
      `Avro block count ${n} exceeds the ${tap.end - tap.pos} bytes left at byte ${tap.pos}`,
    );
  }
  return n;
}

/** Checks a union branch or enum index. */
export function checkedIndex(index: number, size: number, what: string): number {
  if (index < 0 || index >= size || !Number.isInteger(index)) {
    throw new DecodeError(`Avro ${what} index ${index} out of range 0..${size - 1}`);
  }
  return index;
}

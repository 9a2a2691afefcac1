/**
 * Avro binary → column buffers without JS objects: for each schema we
 * generate (once) straight-line JavaScript that reads a record field by field
 * and appends each value to its column's typed array; strings and bytes are
 * copied as raw bytes into the Arrow value buffer, never decoded. Only
 * multi-type unions go through JS values (stored as JSON).
 *
 * Bounds: lengths and block counts are checked before use; fixed-width reads
 * past the data are caught by the `pos > end` check at the end of each
 * record, and reads past the buffer itself throw, so bad input never yields a
 * silently wrong row.
 */
import { Buffer } from "node:buffer";
import { DecodeError } from "../avro/errors.ts";
import { compileReader, type ValueReader } from "../avro/record_reader.ts";
import { Tap } from "../avro/tap.ts";
import type { ColumnBuilder } from "./builders.ts";
import type { ColumnPlan } from "./schema.ts";

/** Reads whole records into a fixed set of column builders. */
export interface RowDecoder {
  /** Reads one record from `bytes[pos..end)`, appending to every column; returns the next position. */
  readRow(bytes: Uint8Array, pos: number, end: number): number;
}

interface Helpers {
  DecodeError: typeof DecodeError;
  Tap: typeof Tap;
  json: ValueReader[];
  symbols: Uint8Array[][];
  toJson: (value: unknown) => string;
}

/** The generated decoder of one schema, shared by every builder set of that schema. */
interface SharedDecoder extends RowDecoder {
  /** Points the generated code at another set of builders (flat, depth first). */
  bind(builders: ColumnBuilder[]): void;
}

interface Compiled {
  decoder: SharedDecoder;
  bound: ColumnBuilder[] | undefined;
}

const cache = new WeakMap<ColumnPlan[], Compiled>();
const encoder = new TextEncoder();

/**
 * Returns a decoder that appends to `builders` (the top-level column builders
 * made from `plans`, in order). Code is generated once per `plans` and shared
 * by all builder sets, so a new table (one per hour and schema run) starts
 * with already optimised code instead of warming up its own copy.
 */
export function compileRowDecoder(plans: ColumnPlan[], builders: ColumnBuilder[]): RowDecoder {
  let compiled = cache.get(plans);
  if (!compiled) {
    compiled = { decoder: generate(plans), bound: undefined };
    cache.set(plans, compiled);
  }
  const shared = compiled;
  const flat: ColumnBuilder[] = [];
  for (const builder of builders) builder.collect(flat);
  return {
    readRow(bytes, pos, end) {
      if (shared.bound !== flat) {
        shared.decoder.bind(flat);
        shared.bound = flat;
      }
      return shared.decoder.readRow(bytes, pos, end);
    },
  };
}

/** JSON text of a decoded Avro value: bigints as plain numbers, bytes as base64. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    // JSON.rawJSON (V8 ≥ 11.4) keeps 64-bit ids exact in the JSON text.
    if (typeof v === "bigint") return (JSON as unknown as RawJson).rawJSON(v.toString());
    if (v instanceof Uint8Array) {
      return Buffer.from(v.buffer, v.byteOffset, v.length).toString("base64");
    }
    return v;
  });
}

interface RawJson {
  rawJSON(text: string): unknown;
}

function generate(plans: ColumnPlan[]): SharedDecoder {
  const json: ValueReader[] = [];
  const symbols: Uint8Array[][] = [];
  const functions: string[] = [];
  let next = 0;
  let loop = 0;

  // Builders are numbered in the same depth-first order as ColumnBuilder.collect.
  function column(plan: ColumnPlan): string {
    const b = `b${next++}`;
    if (plan.kind === "null") {
      return plan.avro.type === "union"
        ? `if (rdInt() !== 0) badUnion(); ${b}.pushNull();\n`
        : `${b}.pushNull();\n`;
    }
    const read = value(plan, b);
    if (plan.valueIndex < 0) return read;
    if (!plan.nullable) return `if (rdInt() !== ${plan.valueIndex}) badUnion();\n${read}`;
    return `{ const u = rdInt();
      if (u === ${plan.nullIndex}) ${b}.pushNull();
      else if (u === ${plan.valueIndex}) { ${read} }
      else badUnion(); }\n`;
  }

  function value(plan: ColumnPlan, b: string): string {
    const valid = plan.nullable ? `${b}.valid[${b}.len] = 1; ` : "";
    const room = `if (${b}.len === ${b}.cap) ${b}.grow(); `;
    switch (plan.kind) {
      case "json": {
        // A multi-type union reads its own branch index, and may yield null.
        json.push(compileReader(plan.avro));
        const k = json.length - 1;
        return `{ tap.pos = pos; tap.end = end; const v = H.json[${k}](tap); pos = tap.pos;
          if (v === null) ${b}.pushNull(); else ${b}.pushString(H.toJson(v)); }\n`;
      }
      case "bool":
        return `${room}${b}.values[${b}.len] = buf[pos++] === 0 ? 0 : 1; ${valid}${b}.len++;\n`;
      case "i32":
        return `{ const v = rdInt(); ${room}${b}.values[${b}.len] = v; ${valid}${b}.len++; }\n`;
      case "i64":
        return `rdLong(); ${room}{ const s = -(lo & 1), w = ${b}.values, at = 2 * ${b}.len;
          w[at] = ((lo >>> 1) | (hi << 31)) ^ s; w[at + 1] = (hi >>> 1) ^ s; } ${valid}${b}.len++;\n`;
      case "f32":
        return `${room}${b}.values[${b}.len] = view.getFloat32(pos, true); pos += 4; ${valid}${b}.len++;\n`;
      case "f64":
        return `${room}${b}.values[${b}.len] = view.getFloat64(pos, true); pos += 8; ${valid}${b}.len++;\n`;
      case "utf8":
      case "binary":
        return `{ const n = rdLen(); ${b}.pushBytes(buf, pos, n); pos += n; }\n`;
      case "fixed":
        return `if (pos + ${plan.size} > end) truncated(); ${b}.pushFixed(buf, pos); pos += ${plan.size};\n`;
      case "enum": {
        symbols.push(plan.symbols.map((s) => encoder.encode(s)));
        const k = symbols.length - 1;
        return `{ const i = rdInt(); if (i < 0 || i >= ${plan.symbols.length}) badEnum(i);
          const s = H.symbols[${k}][i]; ${b}.pushBytes(s, 0, s.length); }\n`;
      }
      case "list":
      case "map": {
        // A map is a list of (key, value) entries: Avro writes both in blocks the same way.
        const n = `n${loop}`;
        const i = `i${loop++}`;
        const item = column(plan.item!);
        return `{ let ${n} = rdCount();
          while (${n} !== 0) { for (let ${i} = 0; ${i} < ${n}; ${i}++) { ${item} } ${n} = rdCount(); }
          ${b}.endList(); }\n`;
      }
      case "struct": {
        const name = `s_${b}`;
        const body = plan.children.map(column).join("");
        functions.push(
          `function ${name}() {\n${body}if (pos > end) truncated();\n${b}.endStruct();\n}\n`,
        );
        return `${name}();\n`;
      }
      default:
        throw new Error(`No column decoder for kind ${plan.kind}`);
    }
  }

  const root = plans.map(column).join("");
  const names = Array.from({ length: next }, (_, i) => `b${i}`);
  const source = `"use strict";
let ${names.join(", ")};
let buf = new Uint8Array(0), view = new DataView(buf.buffer), tap = new H.Tap(buf);
let pos = 0, end = 0, lo = 0, hi = 0;
function truncated() {
  throw new H.DecodeError("Avro data truncated: record runs past its " + end + " bytes");
}
function badUnion() { throw new H.DecodeError("Avro union index out of range at byte " + pos); }
function badEnum(i) { throw new H.DecodeError("Avro enum index " + i + " out of range at byte " + pos); }
function rdInt() {
  let b = buf[pos++], n = b & 127;
  if (b > 127) { b = buf[pos++]; n |= (b & 127) << 7;
    if (b > 127) { b = buf[pos++]; n |= (b & 127) << 14;
      if (b > 127) { b = buf[pos++]; n |= (b & 127) << 21;
        if (b > 127) { b = buf[pos++]; n |= (b & 15) << 28;
          if (b > 127) throw new H.DecodeError("Avro int longer than 5 bytes at byte " + pos); } } } }
  return (n >>> 1) ^ -(n & 1);
}
function rdLong() {
  let b = buf[pos++]; lo = b & 127; hi = 0;
  if (b > 127) { b = buf[pos++]; lo |= (b & 127) << 7;
  if (b > 127) { b = buf[pos++]; lo |= (b & 127) << 14;
  if (b > 127) { b = buf[pos++]; lo |= (b & 127) << 21;
  if (b > 127) { b = buf[pos++]; lo |= (b & 15) << 28; hi = (b & 127) >>> 4;
  if (b > 127) { b = buf[pos++]; hi |= (b & 127) << 3;
  if (b > 127) { b = buf[pos++]; hi |= (b & 127) << 10;
  if (b > 127) { b = buf[pos++]; hi |= (b & 127) << 17;
  if (b > 127) { b = buf[pos++]; hi |= (b & 127) << 24;
  if (b > 127) { b = buf[pos++]; hi |= (b & 127) << 31;
  if (b > 127) throw new H.DecodeError("Avro long longer than 10 bytes at byte " + pos);
  } } } } } } } } }
}
function rdLen() {
  tap.pos = pos; tap.end = end;
  const n = tap.readLength("string or bytes");
  pos = tap.pos;
  return n;
}
function rdCount() {
  tap.pos = pos; tap.end = end;
  let n = tap.readLongNumber();
  if (n < 0) { n = -n; tap.readLongNumber(); }
  pos = tap.pos;
  if (n > end - pos + 1) {
    throw new H.DecodeError("Avro block count " + n + " exceeds the " + (end - pos) + " bytes left");
  }
  return n;
}
${functions.join("")}
return {
  bind(B) {
    ${names.map((n, i) => `${n} = B[${i}];`).join(" ")}
  },
  readRow(bytes, start, stop) {
    if (bytes !== buf) {
      buf = bytes;
      view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      tap = new H.Tap(bytes);
    }
    pos = start; end = stop;
    ${root}
    if (pos > end) truncated();
    return pos;
  },
};
`;
  const factory = new Function("H", source) as (helpers: Helpers) => SharedDecoder;
  return factory({ DecodeError, Tap, json, symbols, toJson });
}

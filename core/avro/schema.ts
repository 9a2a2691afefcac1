/**
 * Avro schema parsing: resolves named types (also across several `.avsc`
 * files), drops defaults that do not match their type (real ZTF/Rubin schemas
 * carry some; they never matter when reading with the writer schema), and
 * gives every schema a stable key. Parsed schemas are cached by text, so a
 * container header seen a million times is parsed once.
 */
import { createHash } from "node:crypto";
import { DecodeError } from "./errors.ts";

/** Avro primitive type names. */
export type AvroPrimitive =
  | "null"
  | "boolean"
  | "int"
  | "long"
  | "float"
  | "double"
  | "bytes"
  | "string";

/** A record field after resolution. */
export interface AvroField {
  name: string;
  type: AvroType;
}

/** A resolved Avro type; named types are shared objects, so references are identity. */
export type AvroType =
  | { type: AvroPrimitive; logicalType?: string }
  | { type: "record"; name: string; fields: AvroField[] }
  | { type: "enum"; name: string; symbols: string[] }
  | { type: "fixed"; name: string; size: number; logicalType?: string }
  | { type: "array"; items: AvroType }
  | { type: "map"; values: AvroType }
  | { type: "union"; branches: AvroType[] };

/** A record type. */
export type AvroRecord = Extract<AvroType, { type: "record" }>;

/** A parsed, resolved writer schema. */
export interface ParsedSchema {
  /** Stable key: first 16 hex digits of the SHA-256 of the canonical form. */
  readonly key: string;
  /** Full name of the top-level type (`ztf.alert`, `topLevelRecord`, ...). */
  readonly name: string;
  /** The resolved type tree. */
  readonly type: AvroType;
  /** The schema as JSON text with invalid defaults removed (docs kept). */
  readonly json: string;
  /** Parsing canonical form (plus logical types), the input of {@link key}. */
  readonly canonical: string;
}

const PRIMITIVES = new Set<string>([
  "null",
  "boolean",
  "int",
  "long",
  "float",
  "double",
  "bytes",
  "string",
]);

const byText = new Map<string, ParsedSchema>();
const byKey = new Map<string, ParsedSchema>();

/**
 * Parses one schema text (cached by text). Named types defined in `context`
 * texts (loaded in order, e.g. Rubin's `diaSource.avsc` before `alert.avsc`)
 * may be referenced by name.
 *
 * @throws DecodeError naming the offending part of the schema
 */
export function parseSchema(text: string, context: readonly string[] = []): ParsedSchema {
  const cacheKey = context.length === 0 ? text : [...context, text].join("\u0000");
  const cached = byText.get(cacheKey);
  if (cached) return cached;
  const names = new Map<string, AvroType>();
  for (const dependency of context) resolve(parseJson(dependency), "", names);
  const raw = parseJson(text);
  const type = resolve(raw, "", names);
  const canonical = canonicalForm(type, new Set());
  const key = createHash("sha256").update(canonical).digest("hex").slice(0, 16);
  let parsed = byKey.get(key);
  if (!parsed) {
    // A schema assembled from several files has no single source text; its
    // canonical form is self-contained (first use of a named type defines it).
    const json = context.length === 0 ? JSON.stringify(raw) : canonical;
    parsed = { key, name: typeName(type), type, json, canonical };
    byKey.set(key, parsed);
  }
  byText.set(cacheKey, parsed);
  return parsed;
}

/** Reads `.avsc` files (dependencies first, top-level schema last) and parses them together. */
export function parseSchemaFiles(paths: readonly string[]): ParsedSchema {
  if (paths.length === 0) throw new DecodeError("Expected at least one .avsc path, found none");
  const texts = paths.map((path) => {
    try {
      return Deno.readTextFileSync(path);
    } catch (error) {
      throw new DecodeError(`Cannot read schema file ${path}: ${(error as Error).message}`);
    }
  });
  return parseSchema(texts[texts.length - 1], texts.slice(0, -1));
}

/** Full name of a named type, or the type name of an unnamed one. */
export function typeName(type: AvroType): string {
  return "name" in type ? type.name : type.type;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DecodeError(`Schema is not valid JSON: ${(error as Error).message}`);
  }
}

function fullName(name: string, namespace: string): string {
  return name.includes(".") || namespace === "" ? name : `${namespace}.${name}`;
}

function namespaceOf(fullname: string): string {
  const dot = fullname.lastIndexOf(".");
  return dot < 0 ? "" : fullname.slice(0, dot);
}

function lookup(name: string, namespace: string, names: Map<string, AvroType>): AvroType {
  const found = names.get(fullName(name, namespace)) ?? names.get(name);
  if (!found) {
    throw new DecodeError(
      `Schema references unknown type "${name}"; load the .avsc that defines it first`,
    );
  }
  return found;
}

function resolve(raw: unknown, namespace: string, names: Map<string, AvroType>): AvroType {
  if (typeof raw === "string") {
    return PRIMITIVES.has(raw) ? { type: raw as AvroPrimitive } : lookup(raw, namespace, names);
  }
  if (Array.isArray(raw)) {
    return { type: "union", branches: raw.map((branch) => resolve(branch, namespace, names)) };
  }
  if (raw === null || typeof raw !== "object") {
    throw new DecodeError(`Expected a schema type, found ${JSON.stringify(raw)}`);
  }
  const node = raw as Record<string, unknown>;
  const kind = node.type;
  if (typeof kind !== "string") return resolve(kind, namespace, names);
  const logicalType = typeof node.logicalType === "string" ? node.logicalType : undefined;
  if (PRIMITIVES.has(kind)) {
    const primitive = kind as AvroPrimitive;
    return logicalType ? { type: primitive, logicalType } : { type: primitive };
  }
  switch (kind) {
    case "array":
      return { type: "array", items: resolve(node.items, namespace, names) };
    case "map":
      return { type: "map", values: resolve(node.values, namespace, names) };
    case "record":
    case "error": {
      const name = declaredName(node, namespace);
      const record: AvroRecord = { type: "record", name, fields: [] };
      names.set(name, record);
      if (!Array.isArray(node.fields)) {
        throw new DecodeError(`Record ${name} must have a "fields" array`);
      }
      for (const field of node.fields as Record<string, unknown>[]) {
        if (typeof field?.name !== "string") {
          throw new DecodeError(`Record ${name} has a field without a name`);
        }
        const type = resolve(field.type, namespaceOf(name), names);
        if ("default" in field && !validDefault(type, field.default)) delete field.default;
        record.fields.push({ name: field.name, type });
      }
      return record;
    }
    case "enum": {
      const name = declaredName(node, namespace);
      if (!Array.isArray(node.symbols) || node.symbols.some((s) => typeof s !== "string")) {
        throw new DecodeError(`Enum ${name} must have a "symbols" array of strings`);
      }
      if ("default" in node && !node.symbols.includes(node.default)) delete node.default;
      const type: AvroType = { type: "enum", name, symbols: node.symbols as string[] };
      names.set(name, type);
      return type;
    }
    case "fixed": {
      const name = declaredName(node, namespace);
      if (!Number.isInteger(node.size) || (node.size as number) < 0) {
        throw new DecodeError(`Fixed ${name} must have a non-negative integer "size"`);
      }
      const type: AvroType = logicalType
        ? { type: "fixed", name, size: node.size as number, logicalType }
        : { type: "fixed", name, size: node.size as number };
      names.set(name, type);
      return type;
    }
    default:
      return lookup(kind, namespace, names);
  }
}

function declaredName(node: Record<string, unknown>, namespace: string): string {
  if (typeof node.name !== "string" || node.name === "") {
    throw new DecodeError(`Named type (${node.type}) must have a "name"`);
  }
  const ns = typeof node.namespace === "string" ? node.namespace : namespace;
  return fullName(node.name, ns);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Whether `value` is a valid JSON default for `type` (union defaults match the first branch). */
function validDefault(type: AvroType, value: unknown): boolean {
  switch (type.type) {
    case "null":
      return value === null;
    case "boolean":
      return typeof value === "boolean";
    case "int":
    case "long":
      return Number.isInteger(value);
    case "float":
    case "double":
      return typeof value === "number";
    case "bytes":
    case "string":
    case "fixed":
      return typeof value === "string";
    case "enum":
      return typeof value === "string" && type.symbols.includes(value);
    case "array":
      return Array.isArray(value) && value.every((item) => validDefault(type.items, item));
    case "map":
      return isPlainObject(value) &&
        Object.values(value).every((item) => validDefault(type.values, item));
    case "record":
      return isPlainObject(value) &&
        type.fields.every((f) => f.name in value && validDefault(f.type, value[f.name]));
    case "union":
      return type.branches.length > 0 && validDefault(type.branches[0], value);
  }
}

/** Avro Parsing Canonical Form, keeping logicalType (it changes the Arrow mapping). */
function canonicalForm(type: AvroType, seen: Set<string>): string {
  const logical = "logicalType" in type && type.logicalType
    ? `,"logicalType":${JSON.stringify(type.logicalType)}`
    : "";
  switch (type.type) {
    case "union":
      return `[${type.branches.map((b) => canonicalForm(b, seen)).join(",")}]`;
    case "array":
      return `{"type":"array","items":${canonicalForm(type.items, seen)}}`;
    case "map":
      return `{"type":"map","values":${canonicalForm(type.values, seen)}}`;
    case "record": {
      if (seen.has(type.name)) return JSON.stringify(type.name);
      seen.add(type.name);
      const fields = type.fields.map((f) =>
        `{"name":${JSON.stringify(f.name)},"type":${canonicalForm(f.type, seen)}}`
      );
      return `{"name":${JSON.stringify(type.name)},"type":"record","fields":[${fields.join(",")}]}`;
    }
    case "enum":
      if (seen.has(type.name)) return JSON.stringify(type.name);
      seen.add(type.name);
      return `{"name":${JSON.stringify(type.name)},"type":"enum","symbols":${
        JSON.stringify(type.symbols)
      }}`;
    case "fixed":
      if (seen.has(type.name)) return JSON.stringify(type.name);
      seen.add(type.name);
      return `{"name":${JSON.stringify(type.name)},"type":"fixed","size":${type.size}${logical}}`;
    default:
      return logical ? `{"type":"${type.type}"${logical}}` : `"${type.type}"`;
  }
}

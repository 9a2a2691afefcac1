/**
 * Plain Avro binary, one record per message, read with a configured schema
 * (Fink's old simulator; Fink's outgoing streams).
 */
import { decodeFramed, type Decoder, type DecodeResult, type FramedMessage } from "./decoder.ts";
import { type ParsedSchema, parseSchemaFiles } from "./schema.ts";

/** Where the schemaless decoder gets its schema. */
export interface SchemalessOptions {
  /** An `.avsc` path, or several (named-type dependencies first, top-level schema last). */
  schemaPath?: string | string[];
  /** An already parsed schema, instead of `schemaPath`. */
  schema?: ParsedSchema;
}

/** Decodes schemaless Avro messages with one fixed schema. */
export class SchemalessDecoder implements Decoder {
  /** Always `schemaless`. */
  readonly kind = "schemaless" as const;
  /** The schema every message is read with. */
  readonly schema: ParsedSchema;

  /** Loads the schema now, so a bad path fails at start-up rather than per message. */
  constructor(options: SchemalessOptions) {
    if (options.schema) this.schema = options.schema;
    else if (options.schemaPath !== undefined) {
      const paths = typeof options.schemaPath === "string"
        ? [options.schemaPath]
        : options.schemaPath;
      this.schema = parseSchemaFiles(paths);
    } else {
      throw new Error("Schemaless decoding needs schemaPath or schema; neither was given");
    }
  }

  /** The whole message is one record. */
  frame(value: Uint8Array): Promise<FramedMessage> {
    return Promise.resolve({
      schema: this.schema,
      blocks: [{ bytes: value, start: 0, end: value.length, count: 1 }],
    });
  }

  /** Decodes the message's single record. */
  decode(value: Uint8Array): Promise<DecodeResult> {
    return this.frame(value).then(decodeFramed);
  }
}

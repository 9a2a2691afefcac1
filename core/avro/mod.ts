/**
 * Alert message decoders. {@link createDecoder} builds the one the
 * configuration asks for; `auto` recognises each message by its first bytes.
 */
import { ConfluentDecoder } from "./confluent.ts";
import { ContainerDecoder, isContainer } from "./container.ts";
import type { Decoder, DecodeResult, FramedMessage } from "./decoder.ts";
import { DecodeError } from "./errors.ts";
import { SchemalessDecoder } from "./schemaless.ts";

export { ConfluentDecoder, confluentSchemaId } from "./confluent.ts";
export { ContainerDecoder, frameContainer, isContainer } from "./container.ts";
export { checkConsumed, decodeFramed } from "./decoder.ts";
export type { Decoder, DecodeResult, DecoderKind, FramedMessage, RecordBlock } from "./decoder.ts";
export { asDecodeError, DecodeError } from "./errors.ts";
export { compileReader } from "./record_reader.ts";
export { parseSchema, parseSchemaFiles, typeName } from "./schema.ts";
export type { AvroField, AvroPrimitive, AvroRecord, AvroType, ParsedSchema } from "./schema.ts";
export { SchemalessDecoder } from "./schemaless.ts";
export { Tap } from "./tap.ts";

/** How to decode message values. Plain data, so it can cross to a Worker. */
export interface DecoderOptions {
  /** Wire format; `auto` (default) decides per message. */
  mode?: "auto" | "container" | "confluent" | "schemaless";
  /** `.avsc` file(s) for schemaless messages (dependencies first, top-level last). */
  schemaPath?: string | string[];
  /** Schema registry base URL for Confluent-framed messages. */
  registryUrl?: string;
  /** Confluent schema texts by id, consulted before the registry. */
  schemas?: Record<string, string>;
  /** Registry request timeout in milliseconds. */
  registryTimeoutMs?: number;
}

/** Builds the decoder `options` describe. */
export function createDecoder(options: DecoderOptions = {}): Decoder {
  const mode = options.mode ?? "auto";
  switch (mode) {
    case "container":
      return new ContainerDecoder();
    case "confluent":
      return new ConfluentDecoder(confluentOptions(options));
    case "schemaless":
      return new SchemalessDecoder({ schemaPath: options.schemaPath });
    case "auto":
      return new AutoDecoder(options);
    default:
      throw new Error(
        `Decoder mode must be auto, container, confluent or schemaless, found ${mode}`,
      );
  }
}

function confluentOptions(options: DecoderOptions) {
  return {
    registryUrl: options.registryUrl,
    schemas: options.schemas,
    timeoutMs: options.registryTimeoutMs,
  };
}

/**
 * Picks per message: `Obj\x01` → container; first byte 0x00 with a registry
 * or local schemas configured → Confluent; otherwise schemaless when a schema
 * file is configured.
 */
class AutoDecoder implements Decoder {
  readonly kind = "auto" as const;
  readonly #container = new ContainerDecoder();
  readonly #confluent?: ConfluentDecoder;
  readonly #schemaless?: SchemalessDecoder;

  constructor(options: DecoderOptions) {
    if (options.registryUrl || options.schemas) {
      this.#confluent = new ConfluentDecoder(confluentOptions(options));
    }
    if (options.schemaPath !== undefined) {
      this.#schemaless = new SchemalessDecoder({ schemaPath: options.schemaPath });
    }
  }

  frame(value: Uint8Array): Promise<FramedMessage> {
    return this.#pick(value).then((decoder) => decoder.frame(value));
  }

  decode(value: Uint8Array): Promise<DecodeResult> {
    return this.#pick(value).then((decoder) => decoder.decode(value));
  }

  #pick(value: Uint8Array): Promise<Decoder> {
    if (isContainer(value)) return Promise.resolve(this.#container);
    if (value.length > 0 && value[0] === 0 && this.#confluent) {
      return Promise.resolve(this.#confluent);
    }
    if (this.#schemaless) return Promise.resolve(this.#schemaless);
    return Promise.reject(
      new DecodeError(
        `Cannot tell the message format: not an Avro container (no "Obj\\x01"), ${
          this.#confluent ? "not Confluent-framed (first byte not 0x00)" : "no registryUrl"
        } and no schemaPath for schemaless Avro; configure the decoder for this topic`,
      ),
    );
  }
}

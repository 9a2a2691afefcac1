/**
 * Confluent wire format (Rubin): byte 0x00, a big-endian uint32 schema id,
 * then one Avro-binary record. Schemas come from a local map by id or from a
 * schema registry (`GET /schemas/ids/{id}` → `{"schema": "..."}`), cached.
 */
import { decodeFramed, type Decoder, type DecodeResult, type FramedMessage } from "./decoder.ts";
import { DecodeError } from "./errors.ts";
import { type ParsedSchema, parseSchema } from "./schema.ts";

const HEADER_SIZE = 5;

/** Where the Confluent decoder finds writer schemas. */
export interface ConfluentOptions {
  /** Schema registry base URL, e.g. `http://127.0.0.1:8081`. */
  registryUrl?: string;
  /** Schema texts by id, consulted before the registry. */
  schemas?: Record<string, string>;
  /** Registry request timeout in milliseconds (default 10,000). */
  timeoutMs?: number;
}

/** Reads the schema id of a Confluent-framed message. */
export function confluentSchemaId(value: Uint8Array): number {
  if (value.length < HEADER_SIZE) {
    throw new DecodeError(
      `Confluent message must be at least ${HEADER_SIZE} bytes, found ${value.length}`,
    );
  }
  if (value[0] !== 0) {
    throw new DecodeError(
      `Confluent message must start with magic byte 0x00, found 0x${
        value[0].toString(16).padStart(2, "0")
      }`,
    );
  }
  return new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(1, false);
}

/** Decodes Confluent-framed messages, fetching unknown schema ids once. */
export class ConfluentDecoder implements Decoder {
  /** Always `confluent`. */
  readonly kind = "confluent" as const;
  readonly #registryUrl?: string;
  readonly #timeoutMs: number;
  readonly #schemas = new Map<number, Promise<ParsedSchema>>();

  /** Parses the local schemas now so a bad one fails at start-up. */
  constructor(options: ConfluentOptions) {
    if (!options.registryUrl && !options.schemas) {
      throw new Error("Confluent decoding needs registryUrl or schemas; neither was given");
    }
    this.#registryUrl = options.registryUrl?.replace(/\/+$/, "");
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    for (const [id, text] of Object.entries(options.schemas ?? {})) {
      this.#schemas.set(Number(id), Promise.resolve(parseSchema(text)));
    }
  }

  /** The writer schema for an id: local, cached, or fetched from the registry. */
  schemaFor(id: number): Promise<ParsedSchema> {
    let schema = this.#schemas.get(id);
    if (!schema) {
      schema = this.#fetch(id);
      this.#schemas.set(id, schema);
      // A failed lookup is not cached: the registry may be back for the next message.
      schema.catch(() => this.#schemas.delete(id));
    }
    return schema;
  }

  /** Splits the header from the single record body. */
  async frame(value: Uint8Array): Promise<FramedMessage> {
    const schema = await this.schemaFor(confluentSchemaId(value));
    return { schema, blocks: [{ bytes: value, start: HEADER_SIZE, end: value.length, count: 1 }] };
  }

  /** Decodes the message's record. */
  async decode(value: Uint8Array): Promise<DecodeResult> {
    return decodeFramed(await this.frame(value));
  }

  async #fetch(id: number): Promise<ParsedSchema> {
    if (!this.#registryUrl) {
      throw new DecodeError(`Unknown schema id ${id}: not among the local schemas and no registry`);
    }
    const url = `${this.#registryUrl}/schemas/ids/${id}`;
    let response: Response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (error) {
      throw new DecodeError(
        `Schema registry unreachable at ${url}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const body = await response.text().catch(() => "");
    if (response.status === 404) {
      throw new DecodeError(`Unknown schema id ${id}: registry at ${url} answered 404`);
    }
    if (!response.ok) {
      throw new DecodeError(
        `Schema registry at ${url} answered ${response.status}: ${body.slice(0, 200)}`,
      );
    }
    let schemaText: unknown;
    try {
      schemaText = JSON.parse(body).schema;
    } catch {
      schemaText = undefined;
    }
    if (typeof schemaText !== "string") {
      throw new DecodeError(
        `Schema registry at ${url} answered without a "schema" string: ${body.slice(0, 200)}`,
      );
    }
    return parseSchema(schemaText);
  }
}

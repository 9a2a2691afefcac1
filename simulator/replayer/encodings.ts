/**
 * How alerts become Kafka message values:
 * - `container`: one Avro object container file per message (ZTF); files pass through as they are.
 * - `confluent`: 0x00, big-endian uint32 schema id, Avro binary body (Rubin); the schema
 *   is registered under `<topic>-value` in a Confluent-compatible registry.
 * - `schemaless`: the bare Avro binary body (Fink's distribution streams); the writer
 *   schema is written to an `.avsc` file for consumers.
 */
import { dirname } from "node:path";
import type { SimAlert } from "../alerts/generator.ts";
import { SIM_ALERT_SCHEMA_TEXT, simAlertType } from "../alerts/schema.ts";
import { registerSchema } from "../registry/client.ts";
import { ContainerWriter } from "./container.ts";
import { decodeContainer, recordKey, shiftEventTime } from "./records.ts";
import type { AlertFile } from "./sources.ts";

/** Names of the supported encodings. */
export const ENCODINGS = ["container", "confluent", "schemaless"] as const;

/** A message value encoding. */
export type Encoding = typeof ENCODINGS[number];

/** Validates an encoding name; throws a one-line error naming option `encoding`. */
export function parseEncoding(value: string): Encoding {
  if ((ENCODINGS as readonly string[]).includes(value)) return value as Encoding;
  throw new Error(
    `Unknown encoding "${value}" (option encoding); expected one of ${ENCODINGS.join(", ")}`,
  );
}

/** The Confluent wire format: magic 0x00, schema id (big-endian uint32), Avro body. */
export function confluentFrame(schemaId: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setUint32(1, schemaId, false);
  out.set(body, 5);
  return out;
}

/** Splits a Confluent-framed value; throws when it is shorter than 5 bytes or the magic byte is not 0. */
export function readConfluentFrame(value: Uint8Array): { schemaId: number; body: Uint8Array } {
  if (value.length < 5) {
    throw new Error(
      `Confluent-framed message is too short: expected at least 5 bytes, found ${value.length}`,
    );
  }
  if (value[0] !== 0) {
    throw new Error(`Confluent-framed message has incorrect magic byte ${value[0]}; expected 0`);
  }
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return { schemaId: view.getUint32(1, false), body: value.subarray(5) };
}

/** A Kafka message ready to send. */
export interface EncodedMessage {
  /** Message key (object id), or null for none. */
  key: string | null;
  /** Message value. */
  value: Uint8Array;
}

/** Options of {@link createEncoder}. */
export interface EncoderOptions {
  /** Value encoding. */
  encoding: Encoding;
  /** Topic; the registry subject is `<topic>-value`. */
  topic: string;
  /** Registry base URL; required for `confluent`. */
  registryUrl?: string;
  /** Where `schemaless` writes the writer schema; required for `schemaless`. */
  schemaPath?: string;
  /** Days to move real alerts' event times into the past (forces re-encoding); 0 for none. */
  lateDays?: number;
  /** Dotted path of the record field used as key; null for no key. */
  key: string | null;
  /** Sync marker of the containers built for synthetic alerts (kept stable per seed). */
  sync?: Uint8Array;
}

/** Turns synthetic alerts and alert files into messages of one encoding. */
export interface MessageEncoder {
  /** Messages for one synthetic alert. */
  encodeAlert(alert: SimAlert): Promise<EncodedMessage>;
  /** Messages for one file: one (container) or one per record (confluent, schemaless). */
  encodeFile(file: AlertFile): Promise<EncodedMessage[]>;
  /** Id of the last schema registered (confluent), else null. */
  readonly schemaId: number | null;
  /** The `.avsc` written (schemaless), else null. */
  readonly schemaPath: string | null;
}

function compact(schemaText: string): string {
  return JSON.stringify(JSON.parse(schemaText));
}

/** An encoder; throws when the encoding lacks its registry URL or schema path. */
export function createEncoder(options: EncoderOptions): MessageEncoder {
  const { encoding, topic, key } = options;
  const lateDays = options.lateDays ?? 0;
  if (encoding === "confluent" && !options.registryUrl) {
    throw new Error(
      "Encoding confluent needs option registryUrl (a Confluent-compatible schema registry)",
    );
  }
  if (encoding === "schemaless" && !options.schemaPath) {
    throw new Error("Encoding schemaless needs option schemaPath (where to write the .avsc file)");
  }
  const ids = new Map<string, Promise<number>>();
  let lastId: number | null = null;
  let written: { path: string; schema: string; text: string } | null = null;
  const simWriter = new ContainerWriter(SIM_ALERT_SCHEMA_TEXT, { sync: options.sync });

  const schemaId = async (schemaText: string): Promise<number> => {
    let id = ids.get(schemaText);
    if (!id) {
      id = registerSchema(options.registryUrl!, `${topic}-value`, schemaText);
      ids.set(schemaText, id);
    }
    lastId = await id;
    return lastId;
  };

  const writeSchema = async (schemaText: string, what: string): Promise<void> => {
    if (written?.text === schemaText) return;
    const schema = compact(schemaText);
    if (written === null) {
      const path = options.schemaPath!;
      await Deno.mkdir(dirname(path), { recursive: true });
      await Deno.writeTextFile(path, JSON.stringify(JSON.parse(schema), null, 2) + "\n");
      written = { path, schema, text: schemaText };
    } else if (written.schema !== schema) {
      throw new Error(
        `Encoding schemaless needs one writer schema for the whole source, but ${what} differs from the one written to ${written.path}; replay its folder separately or use encoding confluent`,
      );
    }
  };

  const frame = async (schemaText: string, body: Uint8Array, what: string) => {
    if (encoding === "confluent") return confluentFrame(await schemaId(schemaText), body);
    await writeSchema(schemaText, what);
    return body;
  };

  return {
    get schemaId() {
      return lastId;
    },
    get schemaPath() {
      return written?.path ?? null;
    },
    async encodeAlert(alert) {
      const body = simAlertType().toBuffer(alert);
      const messageKey = key === null ? null : recordKey(alert, key);
      const value = encoding === "container"
        ? simWriter.encode([body])
        : await frame(SIM_ALERT_SCHEMA_TEXT, body, "the synthetic alert schema");
      return { key: messageKey, value };
    },
    async encodeFile(file) {
      const passthrough = encoding === "container" && lateDays === 0;
      if (passthrough && key === null) return [{ key: null, value: file.bytes }];
      const decoded = decodeContainer(file.bytes, file.name);
      if (decoded.records.length === 0) return [];
      const firstKey = key === null ? null : recordKey(decoded.records[0].value, key);
      if (passthrough) return [{ key: firstKey, value: file.bytes }];
      const bodies = decoded.records.map((record) => {
        if (lateDays === 0) return record.body;
        shiftEventTime(record.value, lateDays, file.name);
        return new Uint8Array(decoded.type.toBuffer(record.value));
      });
      if (encoding === "container") {
        const writer = new ContainerWriter(decoded.schemaText, { sync: decoded.sync });
        return [{ key: firstKey, value: writer.encode(bodies) }];
      }
      const messages: EncodedMessage[] = [];
      for (let i = 0; i < bodies.length; i++) {
        messages.push({
          key: key === null ? null : recordKey(decoded.records[i].value, key),
          value: await frame(decoded.schemaText, bodies[i], file.name),
        });
      }
      return messages;
    },
  };
}

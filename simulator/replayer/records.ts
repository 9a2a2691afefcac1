/**
 * The records inside alert containers: decoding them with their writer schema (types
 * cached per schema), shifting their event times for late mode, and choosing message keys.
 */
import { Buffer } from "node:buffer";
import { type AvroType, avroType } from "../alerts/avro_type.ts";
import { readContainer } from "./container.ts";

/** One record of a container with its exact Avro body bytes. */
export interface AlertRecord {
  /** Decoded value (longs as bigint). */
  value: Record<string, any>;
  /** The record's Avro binary encoding as found in the file. */
  body: Uint8Array;
}

/** A decoded container file. */
export interface DecodedContainer {
  /** Writer schema text as embedded. */
  schemaText: string;
  /** avsc type of the writer schema. */
  type: AvroType;
  /** Sync marker of the file. */
  sync: Uint8Array;
  /** Records in file order. */
  records: AlertRecord[];
}

const types = new Map<string, AvroType>();

/** The avsc type of a schema text, built once per distinct text. */
export function typeForSchema(schemaText: string, what: string): AvroType {
  let type = types.get(schemaText);
  if (!type) {
    try {
      type = avroType(schemaText);
    } catch (error) {
      throw new Error(`${what} embeds an Avro schema avsc cannot use: ${(error as Error).message}`);
    }
    types.set(schemaText, type);
  }
  return type;
}

/** Decodes every record of the container `bytes`; `what` names it in errors. */
export function decodeContainer(bytes: Uint8Array, what: string): DecodedContainer {
  const container = readContainer(bytes, what);
  const type = typeForSchema(container.schemaText, what);
  const records: AlertRecord[] = [];
  for (const block of container.blocks) {
    const buffer = Buffer.from(block.data.buffer, block.data.byteOffset, block.data.byteLength);
    let offset = 0;
    for (let i = 0; i < block.count; i++) {
      const decoded = type.decode(buffer, offset);
      if (decoded.offset < 0) {
        throw new Error(`${what} has a truncated record ${i + 1} of ${block.count} in a block`);
      }
      records.push({ value: decoded.value, body: block.data.subarray(offset, decoded.offset) });
      offset = decoded.offset;
    }
  }
  return { schemaText: container.schemaText, type, sync: container.sync, records };
}

/** Event-time fields (in days: JD or MJD) per alert format, shifted together to stay consistent. */
const TIME_FIELDS = {
  ztf: {
    record: "candidate",
    fields: ["jd", "jdstarthist", "jdendhist"],
    lists: [["prv_candidates", "jd"], ["fp_hists", "jd"]],
  },
  rubin: {
    record: "diaSource",
    fields: ["midpointMjdTai", "midPointTai"],
    lists: [
      ["prvDiaSources", "midpointMjdTai"],
      ["prvDiaForcedSources", "midpointMjdTai"],
      ["prvDiaSources", "midPointTai"],
      ["prvDiaForcedSources", "midPointTai"],
    ],
  },
} as const;

function shiftField(holder: Record<string, any> | null | undefined, field: string, days: number) {
  if (holder && typeof holder[field] === "number") holder[field] -= days;
}

/**
 * Moves a ZTF (`candidate.jd`, history jds) or Rubin (`diaSource.midpointMjdTai`,
 * previous sources) record `days` into the past, in place. Throws when the record has
 * neither format's event time.
 */
export function shiftEventTime(record: Record<string, any>, days: number, what: string): void {
  const format = record.candidate && typeof record.candidate.jd === "number"
    ? TIME_FIELDS.ztf
    : record.diaSource && typeof record.diaSource === "object"
    ? TIME_FIELDS.rubin
    : null;
  if (format === null) {
    throw new Error(
      `Option lateDays needs candidate.jd (ZTF) or diaSource.midpointMjdTai (Rubin) in the records of ${what}; found neither, replay it without lateDays`,
    );
  }
  for (const field of format.fields) shiftField(record[format.record], field, days);
  for (const [list, field] of format.lists) {
    for (const item of record[list] ?? []) shiftField(item, field, days);
  }
}

/**
 * The message key of a record: the value at the dotted `path`, as text. For the default
 * path `objectId`, Rubin records fall back to their diaObjectId. Null when absent.
 */
export function recordKey(record: Record<string, any>, path: string): string | null {
  let value: any = record;
  for (const part of path.split(".")) value = value?.[part];
  if (value === undefined && path === "objectId") {
    value = record.diaObject?.diaObjectId ?? record.diaSource?.diaObjectId;
  }
  return value === undefined || value === null ? null : String(value);
}

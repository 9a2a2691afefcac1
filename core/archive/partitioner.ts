/**
 * Event time and hourly partitions. ZTF `candidate.jd` is a Julian Date
 * (UTC); Rubin `diaSource.midpointMjdTai` is an MJD in TAI, 37 s ahead of UTC
 * since 2017. An alert lands in the hour of its event time, as `YYYY/MM/dd/hh`
 * or hive style `year=YYYY/month=MM/day=dd/hour=hh`.
 */
import type { AvroRecord } from "../avro/decoder.ts";
import { DecodeError } from "../avro/errors.ts";
import type { AvroType } from "../avro/schema.ts";

/** How the event-time field is expressed. */
export type EventTimeUnit = "jd" | "mjd_tai" | "mjd" | "unix_ms";

/** Directory layout of the hour partitions. */
export type PartitionLayout = "plain" | "hive";

/** Which field holds the event time and how hours are laid out. */
export interface PartitionOptions {
  /** Dotted field path (`candidate.jd`), or `auto` (default): the first known field present. */
  field?: string;
  /**
   * Unit of the field, or `auto` (default): the known fields' own unit; for a
   * configured field, from its name (`jd…`/`…jd` → jd, `…tai…` → mjd_tai,
   * `…mjd…` → mjd, otherwise unix_ms).
   */
  unit?: EventTimeUnit | "auto";
  /** `plain` (default) `YYYY/MM/dd/hh`, or `hive` `year=YYYY/month=MM/day=dd/hour=hh`. */
  layout?: PartitionLayout;
}

/** A resolved event-time field for one schema. */
export interface EventTimeField {
  path: string[];
  unit: EventTimeUnit;
}

const JD_UNIX_EPOCH = 2440587.5;
const MJD_UNIX_EPOCH = 40587;
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** TAI − UTC, constant since 2017-01-01. */
const TAI_MINUS_UTC_MS = 37_000;
/** Sane event times: anything outside 1950..2150 is a corrupt value, not an alert. */
const MIN_MS = Date.UTC(1950, 0, 1);
const MAX_MS = Date.UTC(2150, 0, 1);

const AUTO_FIELDS: EventTimeField[] = [
  { path: ["candidate", "jd"], unit: "jd" },
  { path: ["diaSource", "midpointMjdTai"], unit: "mjd_tai" },
  { path: ["diaSource", "midPointTai"], unit: "mjd_tai" },
];

const NUMERIC = new Set(["int", "long", "float", "double"]);

/**
 * Finds the event-time field of a schema.
 *
 * @throws DecodeError when the configured (or any known) field is absent or not numeric
 */
export function resolveEventTime(type: AvroType, options: PartitionOptions = {}): EventTimeField {
  const field = options.field ?? "auto";
  if (field === "auto") {
    const found = AUTO_FIELDS.find((candidate) => numericAt(type, candidate.path));
    if (!found) {
      throw new DecodeError(
        `No event-time field found: expected one of ${
          AUTO_FIELDS.map((f) => f.path.join(".")).join(", ")
        }; configure the partition field for this schema`,
      );
    }
    const unit = options.unit && options.unit !== "auto" ? options.unit : found.unit;
    return { path: found.path, unit };
  }
  const path = field.split(".");
  const leaf = numericAt(type, path);
  if (!leaf) {
    throw new DecodeError(`Event-time field ${field} not found as a number in the schema`);
  }
  const unit = options.unit && options.unit !== "auto" ? options.unit : unitFromName(path, leaf);
  return { path, unit };
}

/** Converts an event-time value to Unix milliseconds (UTC). */
export function toUnixMs(value: number, unit: EventTimeUnit): number {
  switch (unit) {
    case "jd":
      return (value - JD_UNIX_EPOCH) * DAY_MS;
    case "mjd_tai":
      return (value - MJD_UNIX_EPOCH) * DAY_MS - TAI_MINUS_UTC_MS;
    case "mjd":
      return (value - MJD_UNIX_EPOCH) * DAY_MS;
    case "unix_ms":
      return value;
  }
}

/**
 * The hour (hours since the epoch) of an event-time value.
 *
 * @throws DecodeError when the value is missing, NaN or outside 1950..2150
 */
export function eventHour(value: number | null | undefined, field: EventTimeField): number {
  if (value === null || value === undefined || Number.isNaN(value)) {
    throw new DecodeError(`Event time ${field.path.join(".")} is missing (null or NaN)`);
  }
  const ms = toUnixMs(value, field.unit);
  if (!(ms >= MIN_MS && ms < MAX_MS)) {
    throw new DecodeError(
      `Event time ${field.path.join(".")} = ${value} (${field.unit}) is outside 1950..2150`,
    );
  }
  return Math.floor(ms / HOUR_MS);
}

/** The partition path of an hour (hours since the epoch). */
export function hourPath(hour: number, layout: PartitionLayout = "plain"): string {
  const d = new Date(hour * HOUR_MS);
  const y = String(d.getUTCFullYear()).padStart(4, "0");
  const m = String(d.getUTCMonth() + 1).padStart(2, "0");
  const day = String(d.getUTCDate()).padStart(2, "0");
  const h = String(d.getUTCHours()).padStart(2, "0");
  return layout === "hive" ? `year=${y}/month=${m}/day=${day}/hour=${h}` : `${y}/${m}/${day}/${h}`;
}

/** The event-time value of a decoded record (see `core/avro`), or null when absent. */
export function eventValue(record: AvroRecord, field: EventTimeField): number | null {
  let node: unknown = record;
  for (const name of field.path) {
    if (node === null || typeof node !== "object") return null;
    node = (node as Record<string, unknown>)[name];
  }
  if (typeof node === "bigint") return Number(node);
  return typeof node === "number" ? node : null;
}

function numericAt(type: AvroType, path: readonly string[]): AvroType | undefined {
  let node: AvroType | undefined = type;
  for (const name of path) {
    node = nonNull(node);
    if (node?.type !== "record") return undefined;
    node = node.fields.find((f) => f.name === name)?.type;
  }
  node = nonNull(node);
  return node && NUMERIC.has(node.type) ? node : undefined;
}

function nonNull(type: AvroType | undefined): AvroType | undefined {
  if (type?.type !== "union") return type;
  const others = type.branches.filter((b) => b.type !== "null");
  return others.length === 1 ? others[0] : undefined;
}

function unitFromName(path: string[], leaf: AvroType): EventTimeUnit {
  const name = path[path.length - 1].toLowerCase();
  if ("logicalType" in leaf && leaf.logicalType === "timestamp-millis") return "unix_ms";
  if (name.startsWith("jd") || name.endsWith("jd")) return "jd";
  if (name.includes("tai")) return "mjd_tai";
  if (name.includes("mjd")) return "mjd";
  return "unix_ms";
}

/** Start (ms, UTC) of the hour a partition path stands for, in either layout; null if none. */
export function hourPathStart(path: string): number | null {
  const plain = /(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})$/.exec(path);
  const hive = /year=(\d{4})\/month=(\d{2})\/day=(\d{2})\/hour=(\d{2})$/.exec(path);
  const m = plain ?? hive;
  if (m === null) return null;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]));
}

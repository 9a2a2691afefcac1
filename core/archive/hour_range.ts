/**
 * Hour ranges as users write them: `YYYY/MM/dd/hh..YYYY/MM/dd/hh` (both ends
 * included, UTC, the archive's own folder names) or one hour `YYYY/MM/dd/hh`.
 */
import { hourPath, hourPathStart } from "./partitioner.ts";

/** An inclusive range of event hours, in whole hours since the Unix epoch. */
export interface HourRange {
  from: number;
  to: number;
}

/** A range that cannot be run: malformed, or nothing archived in it. */
export class HourRangeError extends Error {
  override name = "HourRangeError";
}

const HOUR_MS = 3_600_000;
const MAX_HOURS = 24 * 366 * 10;
const HOUR = /^(?:\d{4}\/\d{2}\/\d{2}\/\d{2}|year=\d{4}\/month=\d{2}\/day=\d{2}\/hour=\d{2})$/;

/** Parses `YYYY/MM/dd/hh` (or its hive form) into hours since the epoch; null when it is not one. */
export function parseHour(text: string): number | null {
  const trimmed = text.trim().replace(/\/+$/, "");
  const start = HOUR.test(trimmed) ? hourPathStart(trimmed) : null;
  if (start === null) return null;
  const [y, mo, d, h] = trimmed.match(/\d+/g)!.map(Number);
  const date = new Date(start);
  const real = date.getUTCFullYear() === y && date.getUTCMonth() + 1 === mo &&
    date.getUTCDate() === d && date.getUTCHours() === h;
  return real ? start / HOUR_MS : null;
}

/**
 * Parses `YYYY/MM/dd/hh..YYYY/MM/dd/hh` or one hour `YYYY/MM/dd/hh`.
 *
 * @throws HourRangeError naming what is wrong
 */
export function parseHourRange(text: string): HourRange {
  const example = "e.g. 2020/01/01/00..2020/01/01/23";
  const parts = String(text).trim().split("..");
  if (parts.length > 2) {
    throw new HourRangeError(`An hour range has one "..", found "${text}" (${example})`);
  }
  const hours = parts.map(parseHour);
  if (hours.some((h) => h === null)) {
    throw new HourRangeError(
      `An hour range is YYYY/MM/dd/hh..YYYY/MM/dd/hh in real UTC hours, found "${text}" (${example})`,
    );
  }
  const from = hours[0]!;
  const to = hours[hours.length - 1]!;
  if (to < from) {
    throw new HourRangeError(`The hour range "${text}" ends before it starts; swap its ends`);
  }
  if (to - from >= MAX_HOURS) {
    throw new HourRangeError(
      `The hour range "${text}" spans ${to - from + 1} hours, more than ${MAX_HOURS}; split it`,
    );
  }
  return { from, to };
}

/** The text form of a range, as {@link parseHourRange} reads it. */
export function formatHourRange(range: HourRange): string {
  return `${hourPath(range.from)}..${hourPath(range.to)}`;
}

/**
 * Query parameters of the history endpoints: `from` and `to` as ISO 8601
 * times or epoch milliseconds, `step` in seconds. A bad value is a 400 that
 * names the parameter, what was expected and what was found.
 */
import { BadParameterError } from "./errors.ts";

/** A validated time range, epoch ms, and step, seconds. */
export interface TimeRange {
  from: number;
  to: number;
  step: number;
}

/** Options of {@link parseTimeRange}. */
export interface TimeRangeOptions {
  /** Span when `from` is absent. */
  defaultSpanMs: number;
  /** Smallest step accepted, seconds. */
  minStep: number;
  /** The step must be a multiple of this many seconds. Default 1 (any whole second count is fine). */
  stepMultiple?: number;
  /** A default step aims at about this many points. */
  targetPoints: number;
  /** Ranges needing more points than this at the asked step are refused. */
  maxPoints: number;
  /** Current time, epoch ms. Default now. */
  now?: number;
}

/** Reads a query parameter (the first value), or undefined when absent. */
export type QueryReader = (name: string) => string | undefined;

const MAX_TIME_MS = 8.64e15;
const MAX_STEP_S = 31 * 86_400;
const ISO_PREFIX = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * Reads `from`, `to` and `step`.
 *
 * @throws BadParameterError naming the parameter at fault
 */
export function parseTimeRange(query: QueryReader, options: TimeRangeOptions): TimeRange {
  const now = options.now ?? Date.now();
  const to = parseTime("to", query("to")) ?? now;
  const from = parseTime("from", query("from")) ?? to - options.defaultSpanMs;
  if (from > to) {
    throw new BadParameterError(
      "from",
      `expected a time before to, found from ${new Date(from).toISOString()} after to ` +
        `${new Date(to).toISOString()}; swap them`,
    );
  }
  const multiple = options.stepMultiple ?? 1;
  const spanS = (to - from) / 1000;
  const step = parseStep(query("step"), options, multiple) ??
    Math.max(options.minStep, Math.ceil(spanS / options.targetPoints / multiple) * multiple);
  const points = Math.ceil(spanS / step);
  if (points > options.maxPoints) {
    throw new BadParameterError(
      "step",
      `${step} s over ${
        Math.round(spanS)
      } s gives ${points} points, at most ${options.maxPoints} ` +
        `are served; use a step of at least ${
          Math.ceil(spanS / options.maxPoints)
        } s or a shorter range`,
    );
  }
  return { from, to, step };
}

/**
 * Reads a time given as epoch milliseconds or an ISO 8601 time; undefined when absent.
 *
 * @throws BadParameterError when the value is neither
 */
export function parseTime(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const expected = "expected an ISO 8601 time (2024-05-01T03:00:00Z) or epoch milliseconds";
  if (text === "") throw new BadParameterError(name, `${expected}, found an empty value`);
  let ms: number;
  if (/^-?\d+$/.test(text)) {
    ms = Number(text);
  } else if (ISO_PREFIX.test(text)) {
    ms = Date.parse(text);
  } else {
    throw new BadParameterError(name, `${expected}, found ${JSON.stringify(value)}`);
  }
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_TIME_MS) {
    throw new BadParameterError(
      name,
      `${expected}, found ${JSON.stringify(value)}, which is no valid time`,
    );
  }
  return ms;
}

function parseStep(
  value: string | undefined,
  options: TimeRangeOptions,
  multiple: number,
): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (!/^\d+$/.test(text)) {
    throw new BadParameterError(
      "step",
      `expected a whole number of seconds such as 10, found ${JSON.stringify(value)}`,
    );
  }
  const step = Number(text);
  if (step < options.minStep || step > MAX_STEP_S) {
    throw new BadParameterError(
      "step",
      `expected between ${options.minStep} and ${MAX_STEP_S} seconds, found ${step}`,
    );
  }
  if (step % multiple !== 0) {
    throw new BadParameterError(
      "step",
      `expected a multiple of ${multiple} seconds (counts are kept per ${multiple} s), found ${step}`,
    );
  }
  return step;
}

/**
 * Reads a boolean flag (`true`/`false`/`1`/`0`); undefined when absent.
 *
 * @throws BadParameterError when the value is something else
 */
export function parseFlag(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (/^(true|1)$/i.test(value.trim())) return true;
  if (/^(false|0)$/i.test(value.trim())) return false;
  throw new BadParameterError(name, `expected true or false, found ${JSON.stringify(value)}`);
}

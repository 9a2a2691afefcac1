/**
 * The query API, `/api/v1/*`, named and parametrised like Fink's object API
 * so a Fink user's scripts port by changing the host: every endpoint answers
 * GET (query parameters) and POST (a JSON object body with the same keys).
 * Limits are stated in README.md beside this file and enforced here.
 */
import type { Context, Hono } from "hono";
import { parseCoordinate } from "../xmatch/sexagesimal.ts";
import type { QueryEngine } from "../query/engine.ts";
import { QueryTimeoutError } from "../query/engine.ts";
import * as queries from "../query/queries.ts";
import { readFitsImage, type Stretch, STRETCHES, toGrey } from "../query/fits_image.ts";
import { encodeGreyPng } from "../query/png.ts";
import type { CutoutKind } from "../query/surveys.ts";
import { ApiError, BadParameterError } from "./errors.ts";
import { ROW_FORMATS, type RowFormat, rowsResponse } from "./table_formats.ts";

/** Limits of the query API. */
export const LIMITS = {
  /** Objects per `/objects` request. */
  objectIds: 100,
  /** Cone radius, arcseconds (5°). */
  radiusArcsec: 18_000,
  /** Rows of `/conesearch`, `/latests`, `/anomaly`. */
  n: 10_000,
  /** Default rows of `/conesearch`, `/latests`, `/anomaly`. */
  defaultN: 1_000,
} as const;

type Reader = (name: string) => string | undefined;

const JD_UNIX_EPOCH = 2440587.5;
const DAY_MS = 86_400_000;
const KINDS: readonly CutoutKind[] = ["Science", "Template", "Difference"];

/** Adds `/api/v1/*` to the app; without an engine they answer 503 saying why. */
export function registerQueryRoutes(app: Hono, engine: () => Promise<QueryEngine | null>): void {
  const route = (path: string, handler: (p: Reader, e: QueryEngine) => Promise<Response>) => {
    const handle = async (c: Context) => {
      const params = await readerOf(c);
      const e = await engine();
      if (e === null) {
        throw new ApiError(503, "The query API has no archive to read in this process");
      }
      try {
        return await handler(params, e);
      } catch (error) {
        if (error instanceof queries.UnknownColumnError) {
          throw new BadParameterError("columns", error.message);
        }
        if (error instanceof QueryTimeoutError) throw new ApiError(503, error.message);
        throw error;
      }
    };
    app.get(`/api/v1/${path}`, handle);
    app.post(`/api/v1/${path}`, handle);
  };

  route("objects", async (p, e) => {
    const objectIds = list(p, "objectId", { required: true });
    if (objectIds.length > LIMITS.objectIds) {
      throw new BadParameterError(
        "objectId",
        `at most ${LIMITS.objectIds} objects per request, found ${objectIds.length}`,
      );
    }
    const rows = await queries.objects(e, {
      objectIds,
      columns: list(p, "columns"),
      withUpperLimits: flag(p, "withupperlim"),
      withCutouts: flag(p, "withcutouts"),
    });
    return rowsResponse(rows, format(p));
  });

  route("conesearch", async (p, e) => {
    const radius = number(p, "radius", { min: 0, max: LIMITS.radiusArcsec, required: true })!;
    if (radius === 0) throw new BadParameterError("radius", "expected a radius above 0 arcsec");
    const rows = await queries.conesearch(e, {
      ra: coordinate(p, "ra"),
      dec: coordinate(p, "dec"),
      radiusArcsec: radius,
      dates: dates(p),
      n: count(p),
    });
    return rowsResponse(rows, format(p));
  });

  route("latests", async (p, e) => {
    const cls = p("class");
    if (cls === undefined || cls === "") {
      throw new BadParameterError("class", "expected a class name; see /api/v1/classes");
    }
    return rowsResponse(await queries.latests(e, { cls, n: count(p), dates: dates(p) }), format(p));
  });

  route("classes", async (_p, e) => new Response(JSON.stringify(await queries.classes(e)), json()));

  route("anomaly", async (p, e) => {
    const rows = await queries.anomaly(e, { n: count(p), dates: dates(p) });
    if (rows === null) {
      return new Response(
        JSON.stringify({
          rows: [],
          note: "The anomaly plugin has written no results yet; start it to get scores",
        }),
        json(),
      );
    }
    return rowsResponse(rows, format(p));
  });

  route("statistics", async (p, e) => {
    const date = p("date");
    const period = date === undefined ? null : periodOf(date);
    if (period === null) {
      throw new BadParameterError("date", `expected YYYYMMDD, YYYYMM or YYYY, found ${show(date)}`);
    }
    return new Response(JSON.stringify({ date, ...await queries.statistics(e, period) }), json());
  });

  route("schema", async (_p, e) => new Response(JSON.stringify(await queries.schema(e)), json()));

  route("cutouts", async (p, e) => {
    const objectId = p("objectId");
    const candid = p("candid");
    if ((objectId === undefined) === (candid === undefined)) {
      throw new BadParameterError("objectId", "give exactly one of objectId or candid");
    }
    if (candid !== undefined && !/^\d+$/.test(candid)) {
      throw new BadParameterError("candid", `expected an alert id (digits), found ${show(candid)}`);
    }
    const kind = (p("kind") ?? "Science") as CutoutKind;
    if (!KINDS.includes(kind)) {
      throw new BadParameterError("kind", `expected ${KINDS.join(", ")}, found ${show(kind)}`);
    }
    const out = (p("output-format") ?? "PNG").toUpperCase();
    if (!["PNG", "FITS", "ARRAY"].includes(out)) {
      throw new BadParameterError(
        "output-format",
        `expected PNG, FITS or array, found ${show(out)}`,
      );
    }
    const stretch = (p("stretch") ?? "zscale") as Stretch;
    if (!STRETCHES.includes(stretch)) {
      throw new BadParameterError(
        "stretch",
        `expected ${STRETCHES.join(", ")}, found ${show(stretch)}`,
      );
    }
    const found = await queries.cutout(e, { objectId, alertId: candid, kind });
    if (found === null) {
      throw new ApiError(404, `No ${kind} cutout found for ${objectId ?? candid}`);
    }
    if (out === "FITS") {
      return new Response(found.bytes as Uint8Array<ArrayBuffer>, {
        headers: {
          "content-type": "application/fits",
          "content-disposition": `attachment; filename="${found.alertId}_${kind}.fits.gz"`,
        },
      });
    }
    const image = readFitsImage(found.bytes);
    if (out === "ARRAY") {
      const rows: (number | null)[][] = [];
      for (let y = image.height - 1; y >= 0; y--) {
        rows.push(Array.from(
          image.data.subarray(y * image.width, (y + 1) * image.width),
          (v) => Number.isFinite(v) ? v : null,
        ));
      }
      return new Response(JSON.stringify({ alertId: found.alertId, kind, array: rows }), json());
    }
    const png = encodeGreyPng(toGrey(image, stretch), image);
    return new Response(png as Uint8Array<ArrayBuffer>, {
      headers: { "content-type": "image/png" },
    });
  });
}

function json(): ResponseInit {
  return { headers: { "content-type": "application/json; charset=utf-8" } };
}

/** GET query parameters, or the keys of a POST's JSON object body (values as text). */
async function readerOf(c: Context): Promise<Reader> {
  if (c.req.method !== "POST") return (name) => c.req.query(name);
  const text = await c.req.text();
  if (text.trim() === "") return () => undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(400, `The body must be a JSON object such as {"objectId": "ZTF21abfmbix"}`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ApiError(400, `The body must be a JSON object such as {"objectId": "ZTF21abfmbix"}`);
  }
  const values = body as Record<string, unknown>;
  return (name) => {
    const v = values[name];
    if (v === undefined || v === null) return undefined;
    return Array.isArray(v) ? v.join(",") : String(v);
  };
}

function show(value: string | undefined): string {
  return value === undefined ? "nothing" : JSON.stringify(value);
}

function list(p: Reader, name: string, options: { required?: boolean } = {}): string[] {
  const items = (p(name) ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (options.required && items.length === 0) {
    throw new BadParameterError(name, "expected one or more values separated by commas");
  }
  return items;
}

function flag(p: Reader, name: string): boolean {
  const v = p(name);
  if (v === undefined || v === "") return false;
  if (["true", "1", "yes"].includes(v.toLowerCase())) return true;
  if (["false", "0", "no"].includes(v.toLowerCase())) return false;
  throw new BadParameterError(name, `expected true or false, found ${show(v)}`);
}

function number(
  p: Reader,
  name: string,
  options: { min: number; max: number; required?: boolean },
): number | undefined {
  const v = p(name);
  if (v === undefined || v === "") {
    if (options.required) throw new BadParameterError(name, "expected a number, found nothing");
    return undefined;
  }
  const n = Number(v);
  if (!Number.isFinite(n) || n < options.min || n > options.max) {
    throw new BadParameterError(
      name,
      `expected a number from ${options.min} to ${options.max}, found ${show(v)}`,
    );
  }
  return n;
}

function count(p: Reader): number {
  const n = number(p, "n", { min: 1, max: LIMITS.n }) ?? LIMITS.defaultN;
  if (!Number.isInteger(n)) throw new BadParameterError("n", `expected a whole number, found ${n}`);
  return n;
}

function format(p: Reader): RowFormat {
  const v = (p("output-format") ?? "json").toLowerCase();
  if (!(ROW_FORMATS as readonly string[]).includes(v)) {
    throw new BadParameterError("output-format", `expected json, csv or parquet, found ${show(v)}`);
  }
  return v as RowFormat;
}

function coordinate(p: Reader, axis: "ra" | "dec"): number {
  const v = p(axis);
  if (v === undefined || v === "") {
    throw new BadParameterError(axis, "expected degrees or sexagesimal, found nothing");
  }
  let deg: number;
  try {
    deg = parseCoordinate(v, axis);
  } catch (e) {
    throw new BadParameterError(axis, (e as Error).message);
  }
  const ok = axis === "ra" ? deg >= 0 && deg <= 360 : deg >= -90 && deg <= 90;
  if (!ok) {
    throw new BadParameterError(
      axis,
      `expected ${axis === "ra" ? "0..360" : "-90..90"} degrees, found ${show(v)}`,
    );
  }
  return deg;
}

/** A date parameter as a Julian Date: a JD (≥ 2,400,000), an MJD, or an ISO date/time (UTC). */
function julianDate(p: Reader, name: string): number | undefined {
  const v = p(name);
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (Number.isFinite(n)) return n >= 2_400_000 ? n : n + 2_400_000.5;
  const iso = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?Z?$/.test(v.trim())
    ? Date.parse(v.trim().replace(" ", "T") + (/Z$/.test(v.trim()) || v.length <= 10 ? "" : "Z"))
    : NaN;
  if (!Number.isFinite(iso)) {
    throw new BadParameterError(
      name,
      `expected a date such as 2020-01-01, 2020-01-01 13:00:00, a JD or an MJD, found ${show(v)}`,
    );
  }
  return iso / DAY_MS + JD_UNIX_EPOCH;
}

function dates(p: Reader): queries.JdRange | undefined {
  const start = julianDate(p, "startdate");
  let stop = julianDate(p, "stopdate");
  const window = number(p, "window", { min: 0, max: 36_500 });
  if (window !== undefined) {
    if (start === undefined) throw new BadParameterError("window", "needs a startdate");
    if (stop !== undefined) {
      throw new BadParameterError("window", "give stopdate or window, not both");
    }
    stop = start + window;
  }
  if (start === undefined && stop === undefined) return undefined;
  if (start !== undefined && stop !== undefined && stop < start) {
    throw new BadParameterError("stopdate", "must not be before startdate");
  }
  return { start, stop };
}

/** The UTC period of YYYYMMDD, YYYYMM or YYYY, or null. */
function periodOf(date: string): { from: number; to: number } | null {
  const m = /^(\d{4})(\d{2})?(\d{2})?$/.exec(date);
  if (m === null) return null;
  const y = Number(m[1]);
  if (m[2] === undefined) return { from: Date.UTC(y, 0, 1), to: Date.UTC(y + 1, 0, 1) };
  const month = Number(m[2]) - 1;
  if (month > 11) return null;
  if (m[3] === undefined) return { from: Date.UTC(y, month, 1), to: Date.UTC(y, month + 1, 1) };
  const day = Number(m[3]);
  if (day < 1 || day > 31) return null;
  return { from: Date.UTC(y, month, day), to: Date.UTC(y, month, day + 1) };
}

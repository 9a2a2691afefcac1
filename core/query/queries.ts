/**
 * The queries behind `/api/v1/*` (named like Fink's object API), survey
 * neutral: every answer row carries the same light-curve columns whatever the
 * survey (`objectId`, `alertId`, `jd`, `ra`, `dec`, `band`, `mag`, `magerr`,
 * `diffmaglim`, `isdiffpos`, `magnr`, `sigmagnr`, `tag`, `topic`) plus the
 * science results of the alert when present (`class` from `classify`,
 * `anomaly_score` from `anomaly`) and any raw columns asked for.
 */
import { INDEX_TABLE } from "./alert_index.ts";
import { coneRanges, separationSql } from "./cone.ts";
import {
  type Params,
  parquetScan,
  type QueryEngine,
  type Row,
  type Session,
  type TopicView,
} from "./engine.ts";
import { type CutoutKind, lightCurveSelect } from "./surveys.ts";

export type { Row };

/** An inclusive range of Julian Dates. */
export interface JdRange {
  start?: number;
  stop?: number;
}

const JD_UNIX_EPOCH = 2440587.5;
const HOUR_MS = 3_600_000;
/** Alerts can land up to this long outside their hour folder's span (late data never does). */
const HOUR_SLACK = 1;

/** The light-curve columns every row has, in order. */
export const LIGHT_CURVE_COLUMNS = [
  "topic",
  "objectId",
  "alertId",
  "jd",
  "ra",
  "dec",
  "band",
  "mag",
  "magerr",
  "diffmaglim",
  "isdiffpos",
  "magnr",
  "sigmagnr",
  "tag",
] as const;

/** Options of {@link objects}. */
export interface ObjectsQuery {
  objectIds: string[];
  /** Raw columns (dotted paths) added to each row. */
  columns?: string[];
  withUpperLimits?: boolean;
  withCutouts?: boolean;
}

/** Every alert of the objects, oldest first, with upper limits (`tag` = "upperlim") if asked. */
export function objects(engine: QueryEngine, q: ObjectsQuery): Promise<Row[]> {
  return engine.withTopics(async (topics, db) => {
    const rows: Row[] = [];
    const science = await sciences(engine);
    const found = new Set<string>();
    const params: Params = {};
    q.objectIds.forEach((id, i) => params[`o${i}`] = id);
    const list = q.objectIds.map((_, i) => `$o${i}`).join(", ");
    if (!q.withUpperLimits && !q.withCutouts && (q.columns ?? []).length === 0) {
      // The light-curve columns are all in the index: no file is read.
      return await db.rows(
        `${withScience(engine, null, science)}
        select a.*${scienceColumns(science)} from (
          select * exclude (file, healpix) from ${INDEX_TABLE} where objectId in (${list})) a
          ${scienceJoin(science)}
        order by jd, alertId`,
        params,
      );
    }
    // The index tells which files hold the objects; only those are read.
    const holding = new Set(
      (await db.rows(
        `select distinct file from ${INDEX_TABLE} where objectId in (${list})`,
        params,
      )).map((r) => String(r.file)),
    );
    for (const all of topics) {
      const view = { ...all, files: all.files.filter((f) => holding.has(f.path)) };
      const extra = await rawColumns(db, all, q.columns ?? [], found);
      if (view.files.length === 0) continue;
      const cutouts = q.withCutouts
        ? Object.entries(view.survey.cutouts).map(([k, e]) =>
          hasColumn(view, e) ? `, to_base64(${e}) as "cutout${k}"` : `, null as "cutout${k}"`
        ).join("")
        : "";
      const sql = `${withScience(engine, view, science)}
        select a.*${scienceColumns(science)} from (select ${
        lightCurveSelect(view.topic, view.survey)
      }${extra}${cutouts}
          from alerts where ${view.survey.objectId} in (${list})) a
          ${scienceJoin(science)}
        order by jd, alertId`;
      rows.push(...await db.rows(sql, params));
      if (
        q.withUpperLimits && view.survey.upperLimits !== null &&
        view.columns.has(view.survey.upperLimitsColumn!)
      ) {
        const limits = await db.rows(
          `${withScience(engine, view, [])}
          select distinct '${view.topic}' as topic, objectId, jd, band, diffmaglim
          from ${view.survey.upperLimits} where objectId in (${list})`,
          params,
        );
        const detected = new Set(rows.map((r) => `${r.objectId} ${r.jd}`));
        for (const l of limits) {
          if (detected.has(`${l.objectId} ${l.jd}`)) continue;
          rows.push({ ...emptyRow(), ...l, tag: "upperlim" });
        }
      }
    }
    const missing = (q.columns ?? []).find((c) => !found.has(c));
    if (missing !== undefined && topics.length > 0) throw unknownColumn(missing);
    return rows.sort((a, b) => Number(a.jd) - Number(b.jd));
  });
}

/** Options of {@link conesearch}. */
export interface ConeQuery {
  ra: number;
  dec: number;
  radiusArcsec: number;
  dates?: JdRange;
  n: number;
}

/**
 * One row per object with an alert inside the cone (its latest such alert), nearest first:
 * answered from the engine's index, reading only the pixel ranges the cone touches.
 */
export function conesearch(engine: QueryEngine, q: ConeQuery): Promise<Row[]> {
  const radius = q.radiusArcsec / 3600;
  const ranges = coneRanges(q.ra, q.dec, radius);
  const params: Params = {
    ra: q.ra,
    dec: q.dec,
    radius,
    n: q.n,
    dmin: q.dec - radius,
    dmax: q.dec + radius,
  };
  ranges.forEach(([lo, hi], i) => {
    params[`l${i}`] = lo;
    params[`h${i}`] = hi;
  });
  const pixels = ranges.map((_, i) => `healpix between $l${i} and $h${i}`).join(" or ");
  let dates = "";
  if (q.dates?.start !== undefined) {
    params.start = q.dates.start;
    dates += " and jd >= $start";
  }
  if (q.dates?.stop !== undefined) {
    params.stop = q.dates.stop;
    dates += " and jd <= $stop";
  }
  return engine.withTopics(async (_topics, db) => {
    const science = await sciences(engine);
    const sep = separationSql("ra", "dec");
    // Two branches, not an OR, so each reads only its rows: the cone's pixel ranges, and the
    // alerts archived before the pixel column existed (by declination).
    return await db.rows(
      `${withScience(engine, null, science)}
      select a.*${scienceColumns(science)} from (
        select * exclude (file, healpix), ${sep} * 3600 as separation from (
          select * from ${INDEX_TABLE} where ${pixels}
          union all
          select * from ${INDEX_TABLE} where healpix is null and dec between $dmin and $dmax)
        where ${sep} <= $radius ${dates}
        qualify row_number() over (partition by topic, objectId order by jd desc) = 1
        order by separation limit $n) a ${scienceJoin(science)}
      order by separation`,
      params,
    );
  });
}

/** Options of {@link latests}. */
export interface LatestsQuery {
  cls: string;
  n: number;
  dates?: JdRange;
}

/** The latest alerts `classify` put in a class, newest first. */
export function latests(engine: QueryEngine, q: LatestsQuery): Promise<Row[]> {
  return engine.withTopics(async (topics, db) => {
    const science = await sciences(engine);
    if (!science.some((s) => s.plugin === "classify")) return [];
    const rows: Row[] = [];
    const params: Params = { cls: q.cls, n: q.n };
    for (const view of inDates(topics, q.dates)) {
      const sql = `${withScience(engine, view, science)}
        select a.*${scienceColumns(science)} from (select ${
        lightCurveSelect(view.topic, view.survey)
      } from alerts
          where ${view.survey.alertId} in (select id from classify where class = $cls)
          ${jdFilter(view, q.dates, params)}
          order by jd desc limit $n) a ${scienceJoin(science)} order by jd desc`;
      rows.push(...await db.rows(sql, params));
    }
    return rows.sort((a, b) => Number(b.jd) - Number(a.jd)).slice(0, q.n);
  });
}

/** The classes `classify` gave, with how many alerts each. */
export function classes(engine: QueryEngine): Promise<{ class: string; alerts: number }[]> {
  return engine.withTopics(async (_topics, db) => {
    const paths = await engine.sciencePaths("classify");
    if (paths.length === 0) return [];
    const rows = await db.rows(
      `select class, count(distinct id)::INTEGER as alerts from ${parquetScan(paths)}
       where class is not null group by class order by alerts desc, class`,
    );
    return rows as { class: string; alerts: number }[];
  });
}

/** Options of {@link anomaly}. */
export interface AnomalyQuery {
  n: number;
  dates?: JdRange;
}

/** The most anomalous alerts (lowest `anomaly_score` from the `anomaly` plugin), or none. */
export function anomaly(engine: QueryEngine, q: AnomalyQuery): Promise<Row[] | null> {
  return engine.withTopics(async (topics, db) => {
    const science = await sciences(engine);
    if (!science.some((s) => s.plugin === "anomaly")) return null;
    const rows: Row[] = [];
    const params: Params = { n: q.n };
    for (const view of inDates(topics, q.dates)) {
      const sql = `${withScience(engine, view, science)}
        select a.*${scienceColumns(science)} from (select ${
        lightCurveSelect(view.topic, view.survey)
      } from alerts
          where ${view.survey.alertId} in (select id from anomaly) ${
        jdFilter(view, q.dates, params)
      }) a
        ${scienceJoin(science)} order by anomaly_score limit $n`;
      rows.push(...await db.rows(sql, params));
    }
    return rows.sort((a, b) => Number(a.anomaly_score) - Number(b.anomaly_score)).slice(0, q.n);
  });
}

/** Counts over the hours of a UTC period (ms, inclusive start, exclusive end). */
export function statistics(
  engine: QueryEngine,
  period: { from: number; to: number },
): Promise<{ alerts: number; objects: number; classes: Record<string, number> }> {
  return engine.withTopics(async (topics, db) => {
    const science = await sciences(engine);
    const hasClassify = science.some((s) => s.plugin === "classify");
    let alerts = 0;
    let objects = 0;
    const classes: Record<string, number> = {};
    const from = period.from / HOUR_MS;
    const to = period.to / HOUR_MS;
    for (const view of topics) {
      const files = view.files.filter((f) => f.hour >= from && f.hour < to);
      if (files.length === 0) continue;
      const one = { ...view, files };
      const [count] = await db.rows(
        `${withScience(engine, one, [])} select count(*)::INTEGER as alerts,
         count(distinct ${view.survey.objectId})::INTEGER as objects from alerts`,
      );
      alerts += Number(count.alerts);
      objects += Number(count.objects);
      if (!hasClassify) continue;
      const byClass = await db.rows(
        `${withScience(engine, one, science)} select class, count(*)::INTEGER as n from alerts
         join classify on classify.id = alerts.${view.survey.alertId}
         where class is not null group by class`,
      );
      for (const r of byClass) {
        classes[String(r.class)] = (classes[String(r.class)] ?? 0) + Number(r.n);
      }
    }
    return { alerts, objects, classes };
  });
}

/** The columns of each topic's alerts and of each plugin's results. */
export function schema(engine: QueryEngine): Promise<Row> {
  return engine.withTopics(async (topics, db) => {
    const out: Row = {
      lightCurveColumns: LIGHT_CURVE_COLUMNS,
      topics: {} as Row,
      science: {} as Row,
    };
    for (const view of topics) {
      const columns = await db.rows(
        `describe select * from ${parquetScan(view.files.map((f) => f.path))}`,
      );
      (out.topics as Row)[view.topic] = {
        survey: view.survey.name,
        columns: columns.map((c) => ({ name: c.column_name, type: c.column_type })),
      };
    }
    for (const { plugin, paths } of await sciences(engine)) {
      const columns = await db.rows(`describe select * from ${parquetScan(paths)}`);
      (out.science as Row)[plugin] = columns.map((c) => ({
        name: c.column_name,
        type: c.column_type,
      }));
    }
    return out;
  });
}

/** Options of {@link cutout}: one alert by id, or an object's latest alert. */
export interface CutoutQuery {
  objectId?: string;
  alertId?: string;
  kind: CutoutKind;
}

/** The cutout bytes (usually gzipped FITS) and the alert they belong to, or null. */
export function cutout(
  engine: QueryEngine,
  q: CutoutQuery,
): Promise<{ alertId: string; objectId: string; bytes: Uint8Array } | null> {
  return engine.withTopics(async (topics, db) => {
    let best: { jd: number; alertId: string; objectId: string; bytes: Uint8Array } | null = null;
    for (const view of topics) {
      const s = view.survey;
      if (!hasColumn(view, s.cutouts[q.kind])) continue;
      const where = q.alertId !== undefined ? `${s.alertId}::VARCHAR = $id` : `${s.objectId} = $id`;
      const [row] = await db.values(
        `${withScience(engine, view, [])} select ${s.jd} as jd, ${s.alertId}::VARCHAR as alertId,
           ${s.objectId} as objectId, ${s.cutouts[q.kind]} as bytes
         from alerts where ${where} order by jd desc limit 1`,
        { id: q.alertId ?? q.objectId! },
      );
      if (row === undefined || !(row.bytes instanceof Uint8Array)) continue;
      if (best === null || Number(row.jd) > best.jd) {
        best = {
          jd: Number(row.jd),
          alertId: String(row.alertId),
          objectId: String(row.objectId),
          bytes: row.bytes,
        };
      }
    }
    return best && { alertId: best.alertId, objectId: best.objectId, bytes: best.bytes };
  });
}

/** A dotted column path that names no column of a topic. */
export class UnknownColumnError extends Error {}

interface Science {
  plugin: "classify" | "anomaly";
  /** Output columns joined into answer rows. */
  columns: string[];
  paths: string[];
}

async function sciences(engine: QueryEngine): Promise<Science[]> {
  const out: Science[] = [];
  const known = [
    { plugin: "classify" as const, columns: ["class"] },
    { plugin: "anomaly" as const, columns: ["anomaly_score"] },
  ];
  for (const k of known) {
    const paths = await engine.sciencePaths(k.plugin);
    if (paths.length > 0) out.push({ ...k, paths });
  }
  return out;
}

/** The CTEs of a query: `alerts` (the topic's files) and one per plugin's results, one row per id. */
function withScience(
  _engine: QueryEngine,
  view: TopicView | null,
  science: Science[],
): string {
  const ctes = view === null
    ? []
    : [`alerts as (select * from ${parquetScan(view.files.map((f) => f.path))})`];
  for (const s of science) {
    ctes.push(`${s.plugin} as (select id, ${s.columns.join(", ")} from ${parquetScan(s.paths)}
      qualify row_number() over (partition by id) = 1)`);
  }
  return ctes.length === 0 ? "" : `with ${ctes.join(",\n")}`;
}

function scienceJoin(science: Science[]): string {
  return science.map((s) => `left join ${s.plugin} on ${s.plugin}.id::VARCHAR = a.alertId`)
    .join(" ");
}

function scienceColumns(science: Science[]): string {
  return science.flatMap((s) => s.columns.map((c) => `, ${s.plugin}.${c}`)).join("");
}

/** Whether the topic has the column an expression such as `cutoutScience.stampData` starts with. */
function hasColumn(view: TopicView, expression: string): boolean {
  return view.columns.has(expression.split(".")[0]);
}

function emptyRow(): Row {
  return Object.fromEntries(LIGHT_CURVE_COLUMNS.map((c) => [c, null]));
}

const PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/**
 * `, "a"."b" as "a.b"` for each asked column the topic has (null for those it
 * lacks); adds the ones it has to `found`.
 */
async function rawColumns(
  db: Session,
  view: TopicView,
  columns: string[],
  found: Set<string>,
): Promise<string> {
  if (columns.length === 0) return "";
  // The last-listed file's schema stands for the topic's (a column is checked once, cheaply).
  const described = await db.rows(
    `describe select * from ${parquetScan([view.files[view.files.length - 1].path])}`,
  );
  const types = new Map(described.map((c) => [String(c.column_name), String(c.column_type)]));
  let sql = "";
  for (const column of columns) {
    const parts = column.split(".");
    const type = types.get(parts[0]);
    if (!PATH.test(column)) throw unknownColumn(column);
    if (type === undefined || !nestedHas(type, parts.slice(1))) {
      sql += `, null as "${column}"`;
      continue;
    }
    found.add(column);
    sql += `, ${parts.map((p) => `"${p}"`).join(".")} as "${column}"`;
  }
  return sql;
}

function unknownColumn(column: string): UnknownColumnError {
  return new UnknownColumnError(
    `${column} is not a column of the archived alerts; see /api/v1/schema for the list`,
  );
}

function nestedHas(type: string, path: string[]): boolean {
  return path.every((p) => new RegExp(`[(,]\\s*"?${p}"?\\s`).test(type));
}

/** The topics with only the files whose hours can hold alerts of the date range. */
function inDates(topics: TopicView[], dates: JdRange | undefined): TopicView[] {
  if (dates?.start === undefined && dates?.stop === undefined) return topics;
  const from = dates.start === undefined ? -Infinity : jdToHour(dates.start) - HOUR_SLACK;
  const to = dates.stop === undefined ? Infinity : jdToHour(dates.stop) + HOUR_SLACK;
  return topics
    .map((t) => ({ ...t, files: t.files.filter((f) => f.hour >= from && f.hour <= to) }))
    .filter((t) => t.files.length > 0);
}

function jdFilter(view: TopicView, dates: JdRange | undefined, params: Params): string {
  let sql = "";
  if (dates?.start !== undefined) {
    params.start = dates.start;
    sql += ` and ${view.survey.jd} >= $start`;
  }
  if (dates?.stop !== undefined) {
    params.stop = dates.stop;
    sql += ` and ${view.survey.jd} <= $stop`;
  }
  return sql;
}

function jdToHour(jd: number): number {
  return Math.floor(((jd - JD_UNIX_EPOCH) * 86_400_000) / HOUR_MS);
}

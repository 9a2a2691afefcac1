/**
 * The queries behind `/api/v1/*` (named like Fink's object API), survey
 * neutral: every answer row carries the same light-curve columns whatever the
 * survey (`objectId`, `alertId`, `jd`, `ra`, `dec`, `band`, `mag`, `magerr`,
 * `diffmaglim`, `isdiffpos`, `magnr`, `sigmagnr`, `tag`, `topic`) plus the
 * science results of the alert when present (`class` from `classify`,
 * `anomaly_score` from `anomaly`) and any raw columns asked for.
 *
 * Everything but raw columns, upper limits and cutouts is answered from the
 * engine's tables in memory; those are read from the files at the rows the
 * index points to, so only the row groups holding them are read.
 */
import {
  ALL_ALERTS,
  INDEX_TABLE,
  INDEX_TABLES,
  INTERNAL_COLUMNS,
  MID_TABLE,
  RECENT_TABLE,
} from "./alert_index.ts";
import { coneRanges, separationSql } from "./cone.ts";
import type { Params, QueryEngine, Row, Session, TopicView } from "./engine.ts";
import { sqlLiteral } from "./file_tables.ts";
import type { ParquetFiles } from "./parquet_files.ts";
import { type ScienceFiles, scienceTable } from "./science_index.ts";
import { type CutoutKind, lightCurveSelect } from "./surveys.ts";

export type { Row };

/** An inclusive range of Julian Dates. */
export interface JdRange {
  start?: number;
  stop?: number;
}

const HOUR_MS = 3_600_000;

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
  return engine.query(async (view, db) => {
    const params: Params = {};
    q.objectIds.forEach((id, i) => params[`o${i}`] = id);
    const list = q.objectIds.map((_, i) => `$o${i}`).join(", ");
    if (!q.withUpperLimits && !q.withCutouts && (q.columns ?? []).length === 0) {
      // The light-curve columns are all in the index: no file is read.
      const rows = await db.rows(
        `select * exclude (${INTERNAL_COLUMNS}) from ${indexed(`objectId in (${list})`)}
         order by jd, alertId`,
        params,
        { prepared: true },
      );
      return await withScience(db, rows, view.science);
    }
    const rows: Row[] = [];
    const found = new Set<string>();
    const where = await rowsOf(db, `objectId in (${list})`, params);
    for (const topic of view.topics) {
      const extra = await rawColumns(db, engine.files.archive, topic, q.columns ?? [], found);
      const alerts = await alertsAt(engine.files.archive, topic, where);
      if (alerts === null) continue;
      const cutouts = q.withCutouts
        ? Object.entries(topic.survey.cutouts).map(([k, e]) =>
          hasColumn(topic, e) ? `, to_base64(${e}) as "cutout${k}"` : `, null as "cutout${k}"`
        ).join("")
        : "";
      const detections = await db.rows(
        `with alerts as (${alerts})
         select ${lightCurveSelect(topic.topic, topic.survey)}${extra}${cutouts}
         from alerts where ${topic.survey.objectId} in (${list}) order by jd, alertId`,
        params,
      );
      rows.push(...await withScience(db, detections, view.science));
      const s = topic.survey;
      if (q.withUpperLimits && s.upperLimits !== null && topic.columns.has(s.upperLimitsColumn!)) {
        const limits = await db.rows(
          `with alerts as (${alerts})
          select distinct ${sqlLiteral(topic.topic)} as topic, objectId, jd, band, diffmaglim
          from ${s.upperLimits} where objectId in (${list})`,
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
    if (missing !== undefined && view.topics.length > 0) throw unknownColumn(missing);
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
  const range = (i: number) => `healpix between $l${i} and $h${i}`;
  // One branch per pixel range of the big sorted table, so each reads only its row groups (an
  // OR of ranges would scan them all); the middle table within the ranges' span; the recent
  // rows are few and scanned once; alerts archived before the pixel column existed are found
  // by declination.
  const any = ranges.map((_, i) => range(i)).join(" or ");
  const candidates = [
    ...ranges.map((_, i) => `select * from ${INDEX_TABLE} where ${range(i)}`),
    `select * from ${MID_TABLE} where healpix between $l0 and $h${ranges.length - 1} and (${any})`,
    `select * from ${RECENT_TABLE} where ${any}`,
    `select * from ${indexed("healpix is null and dec between $dmin and $dmax")}`,
  ].join("\nunion all\n");
  const dates = jdFilter("jd", q.dates, params);
  return engine.query(async (view, db) => {
    const sep = separationSql("ra", "dec");
    const rows = await db.rows(
      `select * exclude (${INTERNAL_COLUMNS}), ${sep} * 3600 as separation
       from (${candidates})
       where ${sep} <= $radius ${dates}
       qualify row_number() over (partition by topic, objectId order by jd desc) = 1
       order by separation limit $n`,
      params,
      { prepared: true },
    );
    return await withScience(db, rows, view.science);
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
  return engine.query(async (view, db) => {
    if (!view.science.some((s) => s.plugin.plugin === "classify")) return [];
    const params: Params = { cls: q.cls, n: q.n };
    const rows = await db.rows(
      `select * exclude (${INTERNAL_COLUMNS}) from ${ALL_ALERTS}
       where alertId in (select id from ${scienceTable("classify")} where class = $cls)
         ${jdFilter("jd", q.dates, params)}
       order by jd desc limit $n`,
      params,
    );
    return await withScience(db, rows, view.science);
  });
}

/** The classes `classify` gave, with how many alerts each. */
export function classes(engine: QueryEngine): Promise<{ class: string; alerts: number }[]> {
  return engine.query(async (_view, db) => {
    const rows = await db.rows(
      `select class, count(distinct id)::INTEGER as alerts from ${scienceTable("classify")}
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
  return engine.query(async (view, db) => {
    if (!view.science.some((s) => s.plugin.plugin === "anomaly")) return null;
    const params: Params = { n: q.n };
    const rows = await db.rows(
      `select a.* exclude (${INTERNAL_COLUMNS}) from ${ALL_ALERTS} a
       join (select id, min(anomaly_score) as score from ${scienceTable("anomaly")}
         where anomaly_score is not null group by id) s on s.id = a.alertId
       where true ${jdFilter("a.jd", q.dates, params)}
       order by s.score, a.alertId limit $n`,
      params,
    );
    return await withScience(db, rows, view.science);
  });
}

/** Counts over the hours of a UTC period (ms, inclusive start, exclusive end). */
export function statistics(
  engine: QueryEngine,
  period: { from: number; to: number },
): Promise<{ alerts: number; objects: number; classes: Record<string, number> }> {
  return engine.query(async (view, db) => {
    const params: Params = { from: period.from / HOUR_MS, to: period.to / HOUR_MS };
    const inPeriod = `from ${ALL_ALERTS} where hour >= $from and hour < $to`;
    const [count] = await db.rows(
      `select count(*)::INTEGER as alerts, count(distinct (topic, objectId))::INTEGER as objects
       ${inPeriod}`,
      params,
    );
    const classes: Record<string, number> = {};
    if (view.science.some((s) => s.plugin.plugin === "classify")) {
      const byClass = await db.rows(
        `select c.class, count(*)::INTEGER as n from (select alertId ${inPeriod}) a
         join (select id, any_value(class) as class from ${scienceTable("classify")}
           group by id) c on c.id = a.alertId
         where c.class is not null group by c.class`,
        params,
      );
      for (const r of byClass) classes[String(r.class)] = Number(r.n);
    }
    return { alerts: Number(count.alerts), objects: Number(count.objects), classes };
  });
}

/** The columns of each topic's alerts (its newest file) and of each plugin's results. */
export function schema(engine: QueryEngine): Promise<Row> {
  return engine.query(async (view, db) => {
    const out: Row = {
      lightCurveColumns: LIGHT_CURVE_COLUMNS,
      topics: {} as Row,
      science: {} as Row,
    };
    for (const topic of view.topics) {
      (out.topics as Row)[topic.topic] = {
        survey: topic.survey.name,
        columns: await describe(db, engine.files.archive, topic.files[topic.files.length - 1]),
      };
    }
    for (const { plugin, files } of view.science) {
      const columns = await describe(db, engine.files.science, files[files.length - 1]);
      (out.science as Row)[plugin.plugin] = columns;
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
  return engine.query(async (view, db) => {
    const condition = q.alertId !== undefined ? "alertId = $id" : "objectId = $id";
    const id = { id: q.alertId ?? q.objectId! };
    // Newest first: the first alert whose topic has the cutout column is the answer.
    const where = await rowsOf(db, condition, id, "order by jd desc");
    for (const at of where) {
      const topic = view.topics.find((t) => t.topic === at.topic);
      const column = topic?.survey.cutouts[q.kind];
      if (topic === undefined || !hasColumn(topic, column!)) continue;
      const alerts = await alertsAt(engine.files.archive, topic, [at]);
      const [row] = await db.values(
        `with alerts as (${alerts}) select ${column} as bytes from alerts`,
      );
      if (!(row?.bytes instanceof Uint8Array)) continue;
      return { alertId: at.alertId, objectId: at.objectId, bytes: row.bytes };
    }
    return null;
  });
}

/** A dotted column path that names no column of a topic. */
export class UnknownColumnError extends Error {}

/** Where an alert of the index is. */
interface IndexedRow {
  topic: string;
  file: string;
  row: number;
  alertId: string;
  objectId: string;
}

/** Where the index's rows matching `condition` are (in the order `order` gives). */
async function rowsOf(
  db: Session,
  condition: string,
  params: Params,
  order = "",
): Promise<IndexedRow[]> {
  const rows = await db.values(
    `select topic, file, row, alertId, objectId from ${indexed(condition)} ${order}`,
    params,
  );
  return rows.map((r) => ({
    topic: String(r.topic),
    file: String(r.file),
    row: Number(r.row),
    alertId: String(r.alertId),
    objectId: String(r.objectId),
  }));
}

/**
 * SQL for a topic's archived rows at these places, every raw column, reading only the row
 * groups that hold them; null when none is in the topic.
 */
async function alertsAt(
  files: ParquetFiles,
  topic: TopicView,
  at: IndexedRow[],
): Promise<string | null> {
  const byFile = new Map<string, number[]>();
  for (const r of at) {
    if (r.topic !== topic.topic) continue;
    byFile.set(r.file, [...byFile.get(r.file) ?? [], r.row]);
  }
  if (byFile.size === 0) return null;
  const parts: string[] = [];
  for (const [path, rows] of byFile) {
    const listed = topic.byPath.get(path);
    if (listed === undefined) continue;
    await files.prepare(listed, { rows });
    parts.push(
      `select * exclude (file_row_number)
       from read_parquet(${sqlLiteral(files.localPath(path))}, file_row_number = true)
       where file_row_number in (${rows.join(", ")})`,
    );
  }
  return parts.length === 0 ? null : parts.join("\nunion all by name\n");
}

/**
 * Adds to each row the science results of its alert (one value per plugin column, null when
 * the plugin has none for it), looked up by id in the science tables through their ART index.
 */
async function withScience(db: Session, rows: Row[], science: ScienceFiles[]): Promise<Row[]> {
  if (science.length === 0 || rows.length === 0) return rows;
  const ids = [...new Set(rows.map((r) => String(r.alertId)))].map(sqlLiteral).join(", ");
  const found = new Map<string, Row>();
  for (const { plugin } of science) {
    const values = plugin.columns.map((c) => `any_value("${c.name}") as "${c.name}"`).join(", ");
    for (
      const r of await db.rows(
        `select id, ${values} from ${scienceTable(plugin.plugin)} where id in (${ids}) group by id`,
      )
    ) {
      const { id, ...columns } = r;
      found.set(String(id), { ...found.get(String(id)), ...columns });
    }
  }
  const empty = Object.fromEntries(
    science.flatMap((s) => s.plugin.columns.map((c) => [c.name, null])),
  );
  return rows.map((r) => ({ ...r, ...empty, ...found.get(String(r.alertId)) }));
}

/**
 * The index's rows matching `condition`, as a FROM item: each table filtered by itself (through
 * a view the big table's ART index would not be used).
 */
function indexed(condition: string): string {
  return `(${
    INDEX_TABLES.map((t) => `select * from ${t} where ${condition}`).join(" union all ")
  })`;
}

/** Whether the topic has the column an expression such as `cutoutScience.stampData` starts with. */
function hasColumn(view: TopicView, expression: string): boolean {
  return view.columns.has(expression.split(".")[0]);
}

function emptyRow(): Row {
  return Object.fromEntries(LIGHT_CURVE_COLUMNS.map((c) => [c, null]));
}

const PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** A file's columns and types, from its footer. */
async function describe(
  db: Session,
  files: ParquetFiles,
  file: { path: string; size: number },
): Promise<{ name: unknown; type: unknown }[]> {
  await files.prepare(file, { footer: true });
  const columns = await db.rows(
    `describe select * from read_parquet(${sqlLiteral(files.localPath(file.path))})`,
  );
  return columns.map((c) => ({ name: c.column_name, type: c.column_type }));
}

/**
 * `, "a"."b" as "a.b"` for each asked column the topic has (null for those it
 * lacks); adds the ones it has to `found`.
 */
async function rawColumns(
  db: Session,
  files: ParquetFiles,
  view: TopicView,
  columns: string[],
  found: Set<string>,
): Promise<string> {
  if (columns.length === 0) return "";
  // The newest file's schema stands for the topic's (a column is checked once, cheaply).
  const described = await describe(db, files, view.files[view.files.length - 1]);
  const types = new Map(described.map((c) => [String(c.name), String(c.type)]));
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

function jdFilter(column: string, dates: JdRange | undefined, params: Params): string {
  let sql = "";
  if (dates?.start !== undefined) {
    params.start = dates.start;
    sql += ` and ${column} >= $start`;
  }
  if (dates?.stop !== undefined) {
    params.stop = dates.stop;
    sql += ` and ${column} <= $stop`;
  }
  return sql;
}

/**
 * Rates and counts over time, kept across restarts: every sample (one a
 * second) goes into a ring buffer of the last hour, and every 10 s the
 * samples are averaged into one line appended to `history.jsonl` in the
 * process state folder, which is read back at start. Queries merge both and
 * resample to the step asked for.
 */
import { join } from "node:path";
import type { Figures } from "./figures.ts";
import { JsonLinesFile } from "./json_lines_file.ts";

/** One point of the rate history. */
export interface HistoryPoint {
  /** Start of the interval, epoch ms. */
  t: number;
  /** Mean alerts/s in over the interval. */
  in: number;
  /** Mean alerts/s out (archived or quarantined). */
  out: number;
  /** Mean MB/s in. */
  mb: number;
  /** Totals at the end of the interval. */
  received: number;
  archived: number;
  quarantined: number;
  /** Total lag at the end of the interval, or null when unknown. */
  lag: number | null;
}

/** A time range and step for {@link RateHistory.query}, epoch ms and seconds. */
export interface HistoryRange {
  from: number;
  to: number;
  step: number;
}

/** Options of {@link RateHistory.open}. */
export interface RateHistoryOptions {
  /** Folder of the history file (the process state folder). */
  dir: string;
  /** Seconds per persisted line. Default 10. */
  bucketSeconds?: number;
  /** Seconds of one-second samples kept in memory. Default 3600. */
  ringSeconds?: number;
  /** Persisted history older than this is dropped. Default 7 days. */
  retainMs?: number;
  /** Bound of the history file. Default 8 MB. */
  maxFileBytes?: number;
}

/** The file name of the rate history inside the state folder. */
export const HISTORY_FILE = "history.jsonl";

/** Points averaged over an interval: `n` samples. */
interface Bucket extends HistoryPoint {
  n: number;
}

/** Rate history: one-second ring in memory plus persisted 10-second lines. */
export class RateHistory {
  #file: JsonLinesFile;
  #bucketMs: number;
  #ringSize: number;
  #retainMs: number;
  #ring: HistoryPoint[] = [];
  #persisted: Bucket[];
  #open: Bucket | null = null;

  private constructor(file: JsonLinesFile, persisted: Bucket[], options: RateHistoryOptions) {
    this.#file = file;
    this.#persisted = persisted.sort((a, b) => a.t - b.t);
    this.#bucketMs = (options.bucketSeconds ?? 10) * 1000;
    this.#ringSize = options.ringSeconds ?? 3600;
    this.#retainMs = options.retainMs ?? 7 * 86_400_000;
  }

  /** Opens the history of a state folder, reading what earlier runs persisted. */
  static async open(options: RateHistoryOptions): Promise<RateHistory> {
    const { file, records } = await JsonLinesFile.open(join(options.dir, HISTORY_FILE), {
      maxBytes: options.maxFileBytes ?? 8 * 1024 * 1024,
    });
    const buckets = records.map(bucketOf).filter((b): b is Bucket => b !== null);
    return new RateHistory(file, buckets, options);
  }

  /** The history file. */
  get file(): JsonLinesFile {
    return this.#file;
  }

  /** Records one sample of the figures. */
  add(figures: Figures): void {
    const point: HistoryPoint = {
      t: figures.t,
      in: figures.rates.inPerSecond,
      out: figures.rates.outPerSecond,
      mb: figures.rates.mbInPerSecond,
      received: figures.totals.received,
      archived: figures.totals.archived,
      quarantined: figures.totals.quarantined,
      lag: figures.lag,
    };
    this.#ring.push(point);
    if (this.#ring.length > this.#ringSize) {
      this.#ring.splice(0, this.#ring.length - this.#ringSize);
    }
    const start = Math.floor(point.t / this.#bucketMs) * this.#bucketMs;
    if (this.#open !== null && this.#open.t !== start) this.#persist();
    this.#open ??= { ...point, t: start, n: 0, in: 0, out: 0, mb: 0 };
    accumulate(this.#open, point);
  }

  /** Persists the bucket being filled; resolves once the file is written. */
  flush(): Promise<void> {
    if (this.#open !== null) this.#persist();
    return this.#file.flushed();
  }

  /**
   * Points in `[from, to]`, one per `step` seconds (aligned on multiples of the step) that
   * holds data; empty steps are left out.
   */
  query(range: HistoryRange): HistoryPoint[] {
    const stepMs = range.step * 1000;
    const ringStart = this.#ring.length > 0 ? this.#ring[0].t : Infinity;
    // Fine samples where the ring has them; the coarse lines cover earlier times.
    const coarse = [...this.#persisted, ...(this.#open ? [this.#open] : [])]
      .filter((b) => b.t + this.#bucketMs <= ringStart);
    const sources: Bucket[] = [...coarse, ...this.#ring.map((p) => ({ ...p, n: 1 }))];
    const out = new Map<number, Bucket>();
    for (const b of sources) {
      if (b.t < range.from || b.t > range.to) continue;
      const t = Math.floor(b.t / stepMs) * stepMs;
      let acc = out.get(t);
      if (acc === undefined) {
        acc = { ...b, t, n: 0, in: 0, out: 0, mb: 0 };
        out.set(t, acc);
      }
      accumulateBucket(acc, b);
    }
    return [...out.values()].sort((a, b) => a.t - b.t).map(pointOf);
  }

  #persist(): void {
    const bucket = this.#open!;
    this.#open = null;
    this.#persisted.push(bucket);
    const horizon = bucket.t - this.#retainMs;
    let drop = 0;
    while (drop < this.#persisted.length && this.#persisted[drop].t < horizon) drop++;
    if (drop > 0) this.#persisted.splice(0, drop);
    this.#file.append([lineOf(bucket)]);
  }
}

function accumulate(bucket: Bucket, point: HistoryPoint): void {
  accumulateBucket(bucket, { ...point, n: 1 });
}

/** Adds `b` (n samples) into `acc`: rates weighted by sample count, counters take the newest. */
function accumulateBucket(acc: Bucket, b: Bucket): void {
  const n = acc.n + b.n;
  acc.in = (acc.in * acc.n + b.in * b.n) / n;
  acc.out = (acc.out * acc.n + b.out * b.n) / n;
  acc.mb = (acc.mb * acc.n + b.mb * b.n) / n;
  acc.n = n;
  acc.received = b.received;
  acc.archived = b.archived;
  acc.quarantined = b.quarantined;
  acc.lag = b.lag;
}

function pointOf(b: Bucket): HistoryPoint {
  return {
    t: b.t,
    in: round(b.in),
    out: round(b.out),
    mb: round(b.mb, 1000),
    received: b.received,
    archived: b.archived,
    quarantined: b.quarantined,
    lag: b.lag,
  };
}

/** The compact persisted form of a bucket. */
function lineOf(b: Bucket): Record<string, unknown> {
  return {
    t: b.t,
    n: b.n,
    in: round(b.in),
    out: round(b.out),
    mb: round(b.mb, 1000),
    rec: b.received,
    arc: b.archived,
    qua: b.quarantined,
    lag: b.lag,
  };
}

function bucketOf(record: unknown): Bucket | null {
  if (record === null || typeof record !== "object") return null;
  const r = record as Record<string, unknown>;
  const fields = [r.t, r.n, r.in, r.out, r.mb, r.rec, r.arc, r.qua];
  if (!fields.every((v) => typeof v === "number" && Number.isFinite(v))) return null;
  return {
    t: r.t as number,
    n: Math.max(1, r.n as number),
    in: r.in as number,
    out: r.out as number,
    mb: r.mb as number,
    received: r.rec as number,
    archived: r.arc as number,
    quarantined: r.qua as number,
    lag: typeof r.lag === "number" ? r.lag : null,
  };
}

function round(x: number, scale = 100): number {
  return Math.round(x * scale) / scale;
}

/**
 * Live summary of one plugin's results: counts per value of each string output
 * column (e.g. class counts) and the most recent rows. Memory is bounded: at
 * most `maxDistinct` values per column are counted, the rest go to "(other)".
 */
import type { OutputType, PluginRow, SummaryRanking } from "./define.ts";

/** A snapshot of a plugin's live summary. */
export interface PluginSummary {
  name: string;
  /** For each string output column, how many rows had each value (null counted as "(null)"). */
  counts: Record<string, Record<string, number>>;
  /** The most recent result rows, newest last, with the alert's object id when known. */
  recent: RecentRow[];
  /** The rows ranked by the plugin's `ranking` column, when it declares one. */
  ranking?: RankingSummary;
}

/** Distribution and most notable rows of a plugin's ranking column. */
export interface RankingSummary {
  column: string;
  order: "ascending" | "descending";
  /** Rows with a value in the column, since the plugin started. */
  counted: number;
  /** Rows with null there (e.g. alerts too short to score). */
  nulls: number;
  /** Bin edges and counts: counts[0] below edges[0], counts[i] in [edges[i-1], edges[i]), the last above. */
  edges: number[];
  counts: number[];
  /** The most notable rows of the last hour, most notable first. */
  top: PluginRow[];
}

/** A result row as the summary keeps it: the plugin's row and the alert's object id. */
export type RecentRow = PluginRow & { objectId?: string };

/** Options of {@link SummaryAccumulator}. */
export interface SummaryOptions {
  /** How many recent rows to keep. */
  recentRows: number;
  /** How many distinct values to count per column before lumping the rest into "(other)". */
  maxDistinct?: number;
  /** The plugin's ranking column, if any. */
  ranking?: SummaryRanking;
  /** Clock, in ms since the epoch (tests). Default Date.now. */
  now?: () => number;
}

const MINUTE_MS = 60_000;

/** Accumulates a {@link PluginSummary} from result rows. */
export class SummaryAccumulator {
  #counts = new Map<string, Map<string, number>>();
  #recent: RecentRow[] = [];
  #options: Required<Omit<SummaryOptions, "ranking">>;
  #ranking?: Ranker;

  /** Counts the string columns among `outputs`. */
  constructor(outputs: Record<string, OutputType>, options: SummaryOptions) {
    this.#options = { maxDistinct: 1000, now: Date.now, ...options };
    if (options.ranking) this.#ranking = new Ranker(options.ranking, this.#options.now);
    for (const [column, type] of Object.entries(outputs)) {
      if (type === "string") this.#counts.set(column, new Map());
    }
  }

  /** Adds a batch of rows; `objectById` names the object of each alert id (kept with recent rows). */
  add(rows: PluginRow[], objectById?: Map<bigint, string>): void {
    for (const [column, counts] of this.#counts) {
      for (const row of rows) {
        let value = row[column] === null ? "(null)" : String(row[column]);
        if (!counts.has(value) && counts.size >= this.#options.maxDistinct) value = "(other)";
        counts.set(value, (counts.get(value) ?? 0) + 1);
      }
    }
    this.#ranking?.add(rows);
    const keep = this.#options.recentRows;
    for (const row of rows.slice(-keep)) {
      const objectId = objectById?.get(row.id);
      // A plugin's own objectId output wins over the one carried alongside.
      this.#recent.push(objectId === undefined || "objectId" in row ? row : { objectId, ...row });
    }
    if (this.#recent.length > keep) this.#recent.splice(0, this.#recent.length - keep);
  }

  /** A copy of the current summary. */
  snapshot(name: string): PluginSummary {
    const counts: Record<string, Record<string, number>> = {};
    for (const [column, values] of this.#counts) counts[column] = Object.fromEntries(values);
    const summary: PluginSummary = {
      name,
      counts,
      recent: this.#recent.map((row) => ({ ...row })),
    };
    if (this.#ranking) summary.ranking = this.#ranking.snapshot();
    return summary;
  }
}

/**
 * Keeps a ranking column's histogram and, per minute of the last hour, its `top` most notable
 * rows: the hour's best are among them, so memory stays at 60 x top rows.
 */
class Ranker {
  readonly #spec: SummaryRanking;
  readonly #top: number;
  readonly #now: () => number;
  readonly #counts: number[];
  #counted = 0;
  #nulls = 0;
  /** Minute (ms since the epoch / 60,000) → its best rows, most notable first. */
  readonly #minutes = new Map<number, PluginRow[]>();

  constructor(spec: SummaryRanking, now: () => number) {
    this.#spec = spec;
    this.#top = spec.top ?? 10;
    this.#now = now;
    this.#counts = new Array(spec.bins.length + 1).fill(0);
  }

  add(rows: PluginRow[]): void {
    const { column, bins } = this.#spec;
    const minute = Math.floor(this.#now() / MINUTE_MS);
    const notable: PluginRow[] = [];
    for (const row of rows) {
      const value = row[column];
      if (typeof value !== "number" || Number.isNaN(value)) {
        this.#nulls++;
        continue;
      }
      this.#counted++;
      let bin = 0;
      while (bin < bins.length && value >= bins[bin]) bin++;
      this.#counts[bin]++;
      notable.push(row);
    }
    if (notable.length === 0) return;
    const best = this.#best([...(this.#minutes.get(minute) ?? []), ...notable]);
    this.#minutes.set(minute, best.map((row) => ({ ...row })));
    for (const m of this.#minutes.keys()) if (m <= minute - 60) this.#minutes.delete(m);
  }

  snapshot(): RankingSummary {
    const since = Math.floor(this.#now() / MINUTE_MS) - 60;
    const rows: PluginRow[] = [];
    for (const [minute, best] of this.#minutes) if (minute > since) rows.push(...best);
    return {
      column: this.#spec.column,
      order: this.#spec.order,
      counted: this.#counted,
      nulls: this.#nulls,
      edges: [...this.#spec.bins],
      counts: [...this.#counts],
      top: this.#best(rows).map((row) => ({ ...row })),
    };
  }

  #best(rows: PluginRow[]): PluginRow[] {
    const { column, order } = this.#spec;
    const sign = order === "ascending" ? 1 : -1;
    return rows.sort((a, b) => sign * ((a[column] as number) - (b[column] as number)))
      .slice(0, this.#top);
  }
}

/**
 * Live summary of one plugin's results: counts per value of each string output
 * column (e.g. class counts) and the most recent rows. Memory is bounded: at
 * most `maxDistinct` values per column are counted, the rest go to "(other)".
 */
import type { OutputType, PluginRow } from "./define.ts";

/** A snapshot of a plugin's live summary. */
export interface PluginSummary {
  name: string;
  /** For each string output column, how many rows had each value (null counted as "(null)"). */
  counts: Record<string, Record<string, number>>;
  /** The most recent result rows, newest last, with the alert's object id when known. */
  recent: RecentRow[];
}

/** A result row as the summary keeps it: the plugin's row and the alert's object id. */
export type RecentRow = PluginRow & { objectId?: string };

/** Options of {@link SummaryAccumulator}. */
export interface SummaryOptions {
  /** How many recent rows to keep. */
  recentRows: number;
  /** How many distinct values to count per column before lumping the rest into "(other)". */
  maxDistinct?: number;
}

/** Accumulates a {@link PluginSummary} from result rows. */
export class SummaryAccumulator {
  #counts = new Map<string, Map<string, number>>();
  #recent: RecentRow[] = [];
  #options: Required<SummaryOptions>;

  /** Counts the string columns among `outputs`. */
  constructor(outputs: Record<string, OutputType>, options: SummaryOptions) {
    this.#options = { maxDistinct: 1000, ...options };
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
    return { name, counts, recent: this.#recent.map((row) => ({ ...row })) };
  }
}

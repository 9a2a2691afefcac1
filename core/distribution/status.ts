/**
 * Per-filter figures of the distribution: alerts evaluated ("in"), passed,
 * published (in committed transactions), the publication rate over the last
 * minute, and the last error.
 */

/** Figures of one filter. */
export interface FilterFigures {
  name: string;
  topic: string;
  where: string;
  in: number;
  passed: number;
  published: number;
  /** Alerts published per second over the last minute. */
  rate: number;
  error: string | null;
}

const WINDOW_MS = 60_000;

/** Counters of every filter, fed by the distributor. */
export class FilterCounters {
  readonly #figures = new Map<string, Omit<FilterFigures, "rate" | "name" | "topic" | "where">>();
  readonly #recent = new Map<string, { at: number; n: number }[]>();

  /** `rows` alerts went through `filter`, `passed` of them passed. */
  evaluated(filter: string, rows: number, passed: number): void {
    const f = this.#of(filter);
    f.in += rows;
    f.passed += passed;
    f.error = null;
  }

  /** `n` alerts of `filter` are in a committed transaction. */
  published(filter: string, n: number, now = Date.now()): void {
    this.#of(filter).published += n;
    const recent = this.#recent.get(filter) ?? [];
    recent.push({ at: now, n });
    while (recent.length > 0 && recent[0].at < now - WINDOW_MS) recent.shift();
    this.#recent.set(filter, recent);
  }

  /** `filter` could not be evaluated. */
  failed(filter: string, error: string): void {
    this.#of(filter).error = error;
  }

  /** Figures of the filters named, in order. */
  figures(
    filters: { name: string; where: string; topic: string }[],
    now = Date.now(),
  ): FilterFigures[] {
    return filters.map((f) => {
      const recent = (this.#recent.get(f.name) ?? []).filter((r) => r.at >= now - WINDOW_MS);
      const n = recent.reduce((sum, r) => sum + r.n, 0);
      return { ...f, ...this.#of(f.name), rate: n / (WINDOW_MS / 1000) };
    });
  }

  #of(filter: string) {
    let f = this.#figures.get(filter);
    if (!f) this.#figures.set(filter, f = { in: 0, passed: 0, published: 0, error: null });
    return f;
  }
}

/**
 * A cumulative histogram of durations in seconds with fixed bucket bounds, the
 * shape Prometheus histograms have (`_bucket{le}`, `_sum`, `_count`), so
 * `histogram_quantile` can aggregate it across processes and over time.
 * Memory is one counter per bucket whatever the number of observations.
 */

/** A histogram at one instant: counts per bucket (not cumulative), the last bucket is +Inf. */
export interface HistogramSnapshot {
  /** Upper bounds of the finite buckets, in seconds, increasing. */
  bounds: number[];
  /** Observations per bucket; one more entry than `bounds` (the +Inf bucket). */
  counts: number[];
  /** Sum of every observation, in seconds. */
  sum: number;
  /** Number of observations. */
  count: number;
}

/** Bucket bounds (seconds) for work measured in milliseconds to seconds: a plugin's batch, an HTTP request. */
export const SHORT_SECONDS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/** Bucket bounds (seconds) for an alert's way from the broker to durable storage. */
export const DELIVERY_SECONDS: readonly number[] = [
  0.1,
  0.25,
  0.5,
  1,
  2,
  5,
  10,
  30,
  60,
  300,
  900,
  3600,
];

/** Counts observations into fixed buckets. */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /** A histogram with these finite upper bounds (seconds, increasing); +Inf is implied. */
  constructor(bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i] > bounds[i - 1])) {
        throw new Error(`Histogram bounds must increase; found ${bounds[i - 1]} then ${bounds[i]}`);
      }
    }
    this.#bounds = bounds;
    this.#counts = new Array<number>(bounds.length + 1).fill(0);
  }

  /** Records one duration in seconds (negative durations, from clock skew, count as 0). */
  observe(seconds: number): void {
    if (Number.isNaN(seconds)) return;
    const value = Math.max(0, seconds);
    let i = 0;
    while (i < this.#bounds.length && value > this.#bounds[i]) i++;
    this.#counts[i]++;
    this.#sum += value;
    this.#count++;
  }

  /** A copy of the current counts. */
  snapshot(): HistogramSnapshot {
    return {
      bounds: [...this.#bounds],
      counts: [...this.#counts],
      sum: this.#sum,
      count: this.#count,
    };
  }
}

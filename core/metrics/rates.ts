/**
 * Alerts/s in and out and bytes/s in, computed like Prometheus' `rate()`: the
 * increase of the counters between two samples divided by the time between
 * them. In and out come from the same two samples over the same window, so at
 * a steady state they agree; they differ only by the alerts buffered at the
 * window's ends. The window is long next to a source's bursts (the simulator
 * sends an observation every 5 s) and the archive's batch delay (a second), so
 * a burst received just before the window and archived inside it moves out
 * against in by a small part: 100 alerts in 60 s, under 10 % at 20 alerts/s.
 * The window starts shorter (from the first sample) and grows to its length.
 */
import type { Figures, Rates } from "./figures.ts";

/** Seconds of counter samples the rates are computed over. */
export const RATE_WINDOW_SECONDS = 60;

/** The counters a rate is computed from, at one instant. */
export interface CounterSample {
  /** Epoch ms. */
  t: number;
  received: number;
  /** Archived plus quarantined: every alert that left the buffer. */
  out: number;
  bytesIn: number;
}

/** The counters of a figures sample. */
export function counterSample(figures: Figures): CounterSample {
  const { t, totals, partitions } = figures;
  return {
    t,
    received: totals.received,
    out: totals.archived + totals.quarantined,
    bytesIn: partitions.reduce((n, p) => n + p.bytesIn, 0),
  };
}

/** A sliding window of counter samples and the rates over it. */
export class RateWindow {
  readonly #windowMs: number;
  #samples: CounterSample[] = [];

  /** A window of `seconds` (default {@link RATE_WINDOW_SECONDS}). */
  constructor(seconds = RATE_WINDOW_SECONDS) {
    this.#windowMs = seconds * 1000;
  }

  /** Adds a sample; a counter that went down (the archive restarted) starts the window afresh. */
  add(sample: CounterSample): void {
    const last = this.#samples.at(-1);
    if (
      last !== undefined && (sample.t <= last.t || sample.received < last.received ||
        sample.out < last.out || sample.bytesIn < last.bytesIn)
    ) {
      this.#samples = [];
    }
    this.#samples.push(sample);
    // Keep the newest sample at least a window old, so the rates span a whole window once it filled.
    while (this.#samples.length > 2 && this.#samples[1].t <= sample.t - this.#windowMs) {
      this.#samples.shift();
    }
  }

  /** The rates between the oldest and the newest sample of the window (zeros before two samples). */
  rates(): Rates {
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    if (first === undefined || last === undefined || last.t <= first.t) {
      return { inPerSecond: 0, outPerSecond: 0, mbInPerSecond: 0, windowSeconds: 0 };
    }
    const seconds = (last.t - first.t) / 1000;
    return {
      windowSeconds: round(seconds, 10),
      inPerSecond: round((last.received - first.received) / seconds, 100),
      outPerSecond: round((last.out - first.out) / seconds, 100),
      mbInPerSecond: round((last.bytesIn - first.bytesIn) / seconds / 1e6, 1e4),
    };
  }
}

function round(x: number, scale: number): number {
  return Math.round(x * scale) / scale;
}

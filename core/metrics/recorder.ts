/**
 * Samples the services once a second: the figures go into the rate history
 * and the class history (both persisted in the state folder) and to every
 * subscriber (the API's live stream). One timer serves any number of
 * subscribers.
 */
import { logger } from "../log.ts";
import { ClassHistory } from "./class_history.ts";
import {
  type Classifier,
  DEFAULT_CLASSIFIER,
  type Figures,
  figuresOf,
  type FigureSources,
} from "./figures.ts";
import { RateHistory } from "./history.ts";
import { counterSample, RateWindow } from "./rates.ts";

/** Options of {@link MetricsRecorder.open}. */
export interface RecorderOptions {
  /** Process state folder (`process.state_dir`) where the histories persist. */
  dir: string;
  /** Reads the services' statuses and the typed snapshots the figures come from. */
  read(): FigureSources;
  /** Milliseconds between samples. Default 1000. */
  intervalMs?: number;
  /** The plugin and column whose values are counted as classes. Default the configuration keys' defaults. */
  classifier?: Classifier;
  /** Persisted history older than this is dropped. Default 7 days. */
  retainMs?: number;
  /** Bound of each history file. Default 8 MB. */
  maxFileBytes?: number;
}

/** Receives each new sample. */
export type FiguresListener = (figures: Figures) => void;

const log = logger("metrics");

/** The once-a-second sampler and the histories it feeds. */
export class MetricsRecorder {
  /** Rates and counts over time. */
  readonly rates: RateHistory;
  /** Class counts per minute. */
  readonly classes: ClassHistory;
  /** The classifier whose classes are counted. */
  readonly classifier: Classifier;
  #options: RecorderOptions;
  #listeners = new Set<FiguresListener>();
  #latest: Figures | null = null;
  #window = new RateWindow();
  #timer: ReturnType<typeof setInterval> | undefined;
  #closing = new AbortController();
  #reportedFailure: Error | null = null;

  private constructor(options: RecorderOptions, rates: RateHistory, classes: ClassHistory) {
    this.#options = options;
    this.rates = rates;
    this.classes = classes;
    this.classifier = options.classifier ?? DEFAULT_CLASSIFIER;
  }

  /** Opens the histories of the state folder (reading earlier runs); does not sample yet. */
  static async open(options: RecorderOptions): Promise<MetricsRecorder> {
    const bounds = {
      dir: options.dir,
      retainMs: options.retainMs,
      maxFileBytes: options.maxFileBytes,
    };
    const [rates, classes] = await Promise.all([
      RateHistory.open(bounds),
      ClassHistory.open(bounds),
    ]);
    return new MetricsRecorder(options, rates, classes);
  }

  /** Starts sampling every interval. */
  start(): void {
    if (this.#timer !== undefined || this.#closing.signal.aborted) return;
    this.#timer = setInterval(() => {
      try {
        this.sample();
      } catch (e) {
        // A service whose details throw must not end the process; the next sample retries.
        log.warn("cannot sample the services", { error: (e as Error).message });
      }
    }, this.#options.intervalMs ?? 1000);
  }

  /** Takes one sample now (the timer calls this; tests may call it with their own clock). */
  sample(now = Date.now()): Figures {
    const counts = figuresOf(this.#options.read(), { now, classifier: this.classifier });
    this.#window.add(counterSample(counts));
    const figures: Figures = { ...counts, rates: this.#window.rates() };
    this.#latest = figures;
    this.rates.add(figures);
    this.classes.add(now, figures.classes?.counts ?? null);
    this.#reportWriteFailure();
    for (const listener of this.#listeners) {
      try {
        listener(figures);
      } catch (e) {
        log.warn("live listener failed", { error: (e as Error).message });
      }
    }
    return figures;
  }

  /** What the figures are read from, now (the services' statuses and snapshots). */
  sources(): FigureSources {
    return this.#options.read();
  }

  /** The figures now, with the rates of the last sample (see {@link currentRates}). */
  figures(sources = this.sources()): Figures {
    return figuresOf(sources, { classifier: this.classifier, rates: this.currentRates() });
  }

  /** The last sample, or null before the first. */
  latest(): Figures | null {
    return this.#latest;
  }

  /** The rates of the last sample (zeros before two samples), which every page and document shows. */
  currentRates(): Figures["rates"] {
    return this.#window.rates();
  }

  /** Calls `listener` with every new sample; returns the function that unsubscribes. */
  subscribe(listener: FiguresListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** How many listeners are subscribed. */
  get subscribers(): number {
    return this.#listeners.size;
  }

  /** Aborted when the recorder closes, so live streams end. */
  get closing(): AbortSignal {
    return this.#closing.signal;
  }

  /** Stops sampling, ends the live streams and writes the unfinished intervals. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#closing.abort();
    this.#listeners.clear();
    await Promise.all([this.rates.flush(), this.classes.flush()]);
  }

  #reportWriteFailure(): void {
    const failure = this.rates.file.failure ?? this.classes.file.failure;
    if (failure !== null && failure !== this.#reportedFailure) {
      log.warn("cannot write the metrics history", { error: failure.message });
    }
    this.#reportedFailure = failure;
  }
}

/**
 * Token-bucket rate limiter for the replayer: callers reserve a whole batch and wait
 * the returned delay once, instead of sleeping per message.
 */

/** Options of {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens (alerts) earned per second; must be > 0. */
  rate: number;
  /** Most tokens kept while idle, so a pause is not followed by an unbounded burst. */
  capacity: number;
  /** Clock in milliseconds (default `performance.now`); injectable for tests. */
  now?: () => number;
}

/**
 * Starts empty, so the tokens spent never exceed `rate × elapsed time`: the long-run
 * average cannot overshoot the target.
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #capacity: number;
  readonly #now: () => number;
  #tokens = 0;
  #last: number;

  /** A bucket earning `rate` tokens per second from now on. */
  constructor(options: TokenBucketOptions) {
    if (!(options.rate > 0) || !Number.isFinite(options.rate)) {
      throw new Error(`Token bucket rate must be a positive number; found ${options.rate}`);
    }
    if (!(options.capacity >= 1)) {
      throw new Error(`Token bucket capacity must be at least 1; found ${options.capacity}`);
    }
    this.#rate = options.rate;
    this.#capacity = options.capacity;
    this.#now = options.now ?? (() => performance.now());
    this.#last = this.#now();
  }

  /**
   * Takes `count` tokens, going into debt when short, and returns how many milliseconds
   * the caller must wait before using them (0 when they were available).
   */
  reserve(count: number): number {
    const now = this.#now();
    this.#tokens = Math.min(
      this.#capacity,
      this.#tokens + ((now - this.#last) / 1000) * this.#rate,
    );
    this.#last = now;
    this.#tokens -= count;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.#rate) * 1000;
  }
}

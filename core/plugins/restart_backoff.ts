/**
 * The delay before a failed plugin's process is started again: `initialMs`,
 * doubled after each failure up to `maxMs`, back to `initialMs` once a batch
 * completes, so a plugin that fails on every batch cannot spin.
 */

/** Delays between restarts of one plugin; see the module documentation. */
export class RestartBackoff {
  #initialMs: number;
  #maxMs: number;
  #nextMs: number;

  /** Starts at `initialMs`. */
  constructor(delays: { initialMs: number; maxMs: number }) {
    this.#initialMs = delays.initialMs;
    this.#maxMs = delays.maxMs;
    this.#nextMs = delays.initialMs;
  }

  /** The delay before this restart; the next one will be twice as long, up to the maximum. */
  next(): number {
    const delayMs = this.#nextMs;
    this.#nextMs = Math.min(this.#nextMs * 2, this.#maxMs);
    return delayMs;
  }

  /** A batch completed: the next failure waits the initial delay again. */
  reset(): void {
    this.#nextMs = this.#initialMs;
  }
}

/**
 * Bytes of large requests the broker holds at once, over all connections: a
 * frame's announced size is reserved here before its body is read and given
 * back once it is answered. A connection whose frame does not fit waits (it
 * stops reading, so its client is held back by TCP) until others finish;
 * waiters are served in arrival order so a big frame is not starved.
 */
export class InflightBudget {
  #used = 0;
  readonly #waiting: { bytes: number; grant: () => void }[] = [];

  constructor(readonly limitBytes: number) {}

  /** Bytes reserved now. */
  get used(): number {
    return this.#used;
  }

  /** Connections waiting for room. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Resolves once `bytes` (at most the limit) are reserved; `signal` gives up the wait. */
  acquire(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.#waiting.length === 0 && this.#used + bytes <= this.limitBytes) {
      this.#used += bytes;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        bytes,
        grant: () => {
          signal?.removeEventListener("abort", abort);
          resolve();
        },
      };
      const abort = () => {
        const at = this.#waiting.indexOf(waiter);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(signal!.reason);
        this.#grant();
      };
      signal?.addEventListener("abort", abort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  /** Gives back `bytes` reserved by {@link acquire}. */
  release(bytes: number): void {
    this.#used -= bytes;
    this.#grant();
  }

  #grant(): void {
    while (this.#waiting.length > 0 && this.#used + this.#waiting[0].bytes <= this.limitBytes) {
      const next = this.#waiting.shift()!;
      this.#used += next.bytes;
      next.grant();
    }
  }
}

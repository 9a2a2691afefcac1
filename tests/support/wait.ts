/**
 * The one way tests wait for something that has no event to await: poll an
 * observable condition. The bound only guards against a hang: a loaded machine
 * (CI beside other work) may take minutes, and a test proves order and counts,
 * never speed.
 */

/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** How long before failing, ms. Default 180,000. */
  timeoutMs?: number;
  /** Pause between checks, ms. Default 50. */
  everyMs?: number;
}

/**
 * Resolves with what `check` returns once it is neither undefined nor false,
 * checking every `everyMs`; rejects after `timeoutMs` naming `what`.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: WaitOptions = {},
): Promise<T> {
  const { timeoutMs = 180_000, everyMs = 50 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

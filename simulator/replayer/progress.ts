/** Replay statistics and the progress line (`sent/total alerts, alerts/s, MB/s`). */

/** Counters of a replay, as passed to `onProgress` and returned by `done`. */
export interface ReplayStats {
  /** Topic written to. */
  topic: string;
  /** Value encoding. */
  encoding: string;
  /** Messages (alerts) acknowledged by the broker. */
  sent: number;
  /** Messages planned; grows while replaying files that hold several records each. */
  total: number;
  /** Bytes of message values acknowledged. */
  bytes: number;
  /** Observations completed (a burst counts as one). */
  observations: number;
  /** Seconds since sending could start (connected, first alert encoded). */
  elapsedSeconds: number;
  /** Average alerts per second since the start. */
  alertsPerSecond: number;
  /** Average megabytes (10^6 bytes) of values per second since the start. */
  megabytesPerSecond: number;
  /** Schema id used (confluent), else null. */
  schemaId: number | null;
  /** `.avsc` written (schemaless), else null. */
  schemaPath: string | null;
  /** True once the replay has ended (finished or stopped). */
  finished: boolean;
  /** True when it ended because `stop()` was called. */
  stopped: boolean;
}

/** The one-line summary, e.g. `sent 1200/5000 alerts, 850.2 alerts/s, 12.30 MB/s`. */
export function formatProgress(stats: ReplayStats): string {
  const total = Number.isFinite(stats.total) ? `/${stats.total}` : "";
  return `sent ${stats.sent}${total} alerts, ${stats.alertsPerSecond.toFixed(1)} alerts/s, ${
    stats.megabytesPerSecond.toFixed(2)
  } MB/s${stats.stopped ? " (stopped)" : stats.finished ? " (done)" : ""}`;
}

/** Where {@link progressPrinter} writes. */
export interface ProgressOutput {
  /** Synchronous write of raw bytes (e.g. `Deno.stderr`). */
  writeSync(bytes: Uint8Array): number;
  /** Whether the output is a terminal. */
  isTerminal(): boolean;
}

/**
 * An `onProgress` callback printing to `output` (default stderr): one line rewritten in
 * place on a terminal, one plain line per update otherwise.
 */
export function progressPrinter(
  output: ProgressOutput = Deno.stderr,
): (stats: ReplayStats) => void {
  const encoder = new TextEncoder();
  const tty = output.isTerminal();
  return (stats) => {
    const line = formatProgress(stats);
    const text = tty ? `\r\x1b[2K${line}${stats.finished ? "\n" : ""}` : `${line}\n`;
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += output.writeSync(bytes.subarray(written));
  };
}

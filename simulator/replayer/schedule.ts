/**
 * The replay schedule, independent of Kafka: an optional unthrottled burst, then
 * observations of N messages separated by a pause, cut into batches that a token bucket
 * paces. The next batch is prepared while the previous one is being sent, but only one
 * send is ever in flight, so per-partition order is kept.
 */
import type { EncodedMessage } from "./encodings.ts";
import { TokenBucket } from "./token_bucket.ts";

/** Options of {@link runSchedule}. */
export interface ScheduleOptions {
  /** Messages per regular observation. */
  alertsPerObservation: number;
  /** Regular observations, or "all" to run until the stream ends. */
  observations: number | "all";
  /** Messages of the initial unthrottled observation; 0 for none. */
  burst: number;
  /** Pause between observations, in seconds. */
  intervalSeconds: number;
  /** Target messages per second; 0 for unthrottled. */
  rate: number;
  /** Most messages per batch. */
  batchMessages: number;
  /** Most value bytes per batch, give or take one message. */
  batchBytes: number;
  /** True when the stream never ends (synthetic), so it is never read ahead. */
  endless: boolean;
  /** Aborting stops after the batch being sent. */
  signal: AbortSignal;
}

/** What the schedule drives. */
export interface ScheduleHooks {
  /** Sends one batch; resolves when the broker acknowledged it. */
  send(batch: EncodedMessage[], bytes: number): Promise<void>;
  /** Called before an observation's first message is read (sets its event time). */
  startObservation(): void;
  /** Called once an observation's messages are all acknowledged. */
  endObservation(): void;
}

/** A pause that ends early, without error, when `signal` aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", finish);
      resolve();
    };
    const timer = setTimeout(finish, ms);
    signal.addEventListener("abort", finish);
  });
}

/**
 * Runs the schedule over `stream`. `first` is a message already read from it (to prime
 * encoders before sending starts); it is sent first.
 */
export async function runSchedule(
  stream: AsyncIterator<EncodedMessage>,
  hooks: ScheduleHooks,
  options: ScheduleOptions & { first?: IteratorResult<EncodedMessage> },
): Promise<void> {
  const { signal } = options;
  let pending: IteratorResult<EncodedMessage> | null = options.first ?? null;
  const pull = async (): Promise<IteratorResult<EncodedMessage>> => {
    const result = pending ?? await stream.next();
    pending = null;
    return result;
  };
  const exhausted = async (): Promise<boolean> => {
    if (options.endless) return false;
    pending ??= await stream.next();
    return pending.done === true;
  };
  const bucket = options.rate > 0
    ? new TokenBucket({ rate: options.rate, capacity: Math.max(1, options.rate / 10) })
    : null;
  const rateBatch = Math.max(1, Math.min(options.batchMessages, Math.ceil(options.rate / 20)));
  let inflight: Promise<void> = Promise.resolve();

  /** Sends up to `size` messages; returns true when the stream ended. */
  const sendObservation = async (size: number, unthrottled: boolean): Promise<boolean> => {
    const limit = unthrottled || bucket === null ? options.batchMessages : rateBatch;
    let remaining = size;
    let ended = false;
    try {
      while (remaining > 0 && !ended && !signal.aborted) {
        const batch: EncodedMessage[] = [];
        let bytes = 0;
        while (batch.length < Math.min(remaining, limit) && bytes < options.batchBytes) {
          const next = await pull();
          if (next.done) {
            ended = true;
            break;
          }
          batch.push(next.value);
          bytes += next.value.value.length;
        }
        if (batch.length === 0) break;
        if (!unthrottled && bucket) await abortableSleep(bucket.reserve(batch.length), signal);
        await inflight;
        if (signal.aborted) break;
        inflight = hooks.send(batch, bytes);
        inflight.catch(() => {});
        remaining -= batch.length;
      }
    } finally {
      await inflight;
    }
    return ended;
  };

  let regular = 0;
  for (let index = 0; !signal.aborted; index++) {
    const burst = index === 0 && options.burst > 0;
    if (!burst && options.observations !== "all" && regular >= options.observations) break;
    if (await exhausted()) break;
    if (index > 0) await abortableSleep(options.intervalSeconds * 1000, signal);
    if (signal.aborted) break;
    hooks.startObservation();
    const ended = await sendObservation(
      burst ? options.burst : options.alertsPerObservation,
      burst,
    );
    hooks.endObservation();
    if (!burst) regular++;
    if (ended) break;
  }
}

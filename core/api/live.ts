/**
 * `/api/live`: server-sent events, one `snapshot` event per sample of the
 * metrics recorder (once a second): rates, counts, lag per topic-partition,
 * service states and plugin counters. The stream ends when the client goes
 * away or the recorder closes (process shutdown).
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { Figures } from "../metrics/figures.ts";
import type { MetricsRecorder } from "../metrics/recorder.ts";
import { toJson } from "./json.ts";

/** One event of the live stream. */
export interface LiveSnapshot {
  /** Sample time, epoch ms. */
  t: number;
  at: string;
  rates: Figures["rates"];
  totals: Figures["totals"];
  lag: {
    total: number | null;
    partitions: { topic: string; partition: number; lag: number | null }[];
  };
  services: Figures["services"];
  plugins: { name: string; state: string; batches: number; rows: number; errors: number }[];
  classes: Record<string, number> | null;
}

/** The lag of a sample: in total and per topic-partition. */
export function lagOf(figures: Figures): LiveSnapshot["lag"] {
  return {
    total: figures.lag,
    partitions: figures.partitions.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      lag: p.lag,
    })),
  };
}

/** The compact live form of a sample. */
export function liveSnapshot(figures: Figures): LiveSnapshot {
  return {
    t: figures.t,
    at: new Date(figures.t).toISOString(),
    rates: figures.rates,
    totals: figures.totals,
    lag: lagOf(figures),
    services: figures.services,
    plugins: figures.plugins.map((p) => ({
      name: p.name,
      state: p.state,
      batches: p.batches,
      rows: p.rows,
      errors: p.errors,
    })),
    classes: figures.classes?.counts ?? null,
  };
}

/** Streams the recorder's samples to the client until it leaves or the recorder closes. */
export function liveStream(c: Context, recorder: MetricsRecorder): Response {
  return streamSSE(c, async (stream) => {
    const ended = Promise.withResolvers<void>();
    let id = 0;
    let writing = false;
    const send = async (figures: Figures) => {
      // A client slower than one event a second skips samples rather than queueing them.
      if (writing || stream.aborted) return;
      writing = true;
      await stream.writeSSE({
        event: "snapshot",
        id: String(++id),
        data: toJson(liveSnapshot(figures)),
        retry: id === 1 ? 2000 : undefined,
      });
      writing = false;
    };
    const unsubscribe = recorder.subscribe((figures) => void send(figures));
    const end = () => ended.resolve();
    stream.onAbort(end);
    recorder.closing.addEventListener("abort", end, { once: true });
    if (recorder.closing.aborted) end();
    const latest = recorder.latest();
    if (latest !== null) await send(latest);
    await ended.promise;
    unsubscribe();
    recorder.closing.removeEventListener("abort", end);
  });
}
